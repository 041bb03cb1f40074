// hw_match.v - an order-level price-time matching core for one contract (tokex offload).
//
// Role: the first step towards matching in hardware (issue 18). It keeps every resting
// order of one book in a window of L price levels, each side's level a FIFO queue of
// orders in time priority, with at most C resting orders, and applies NEW, CANCEL and
// MODIFY
// with the semantics of the C engine (dataplane/match/me_book.c) configured with the
// same window (price_lo = the window's base, L levels) and capacity (max_orders = C),
// writing the same event stream: ACCEPT, MODIFY, TRADE (aggressor, resting id, qty, the resting
// price, both remainders, in price-time order), OUT (CANCEL, IOC remainder, FOK not
// fillable) and REJECT (INVALID, BAND, MAX_QTY, DUP, FULL, POST_CROSS, UNKNOWN) in
// me_book's check order.
//
// Covered: NEW GTC, IOC, FOK (fillable iff the opposite side's quantity at the levels it
// crosses, kept per level in lv_tot, covers it) and POST (rejected POST_CROSS if it
// would cross; FULL, like GTC, whenever no slot is free), CANCEL, MODIFY (same level and
// qty <= remaining: reduced in place, keeps priority; otherwise POST_CROSS for a POST
// that would cross, else it leaves its queue and re-enters as an aggressor of its own
// tif, never FULL). Not covered (the host must not send them; the core rejects them
// INVALID where me_book would not): tif DAY (4), self-trade prevention (owners: the FOK sum counts every
// crossing order), icebergs, stops, auction/guard. tif 5..7, side > 1, qty <= 0 and
// unknown command types are INVALID exactly as in me_book.
// Prices enter as signed ticks from the window's base (price = base + ticks * tick; the
// host refuses off-grid prices, TICK, and prices <= 0 before they reach the core); a
// tick outside [0, L) is BAND. Events carry level indexes; the host maps them back.
// Ids are IDW bits (the host's dense order handles); the user words stay in the host.
//
// Storage: the order fields (id, qty, next, prev, level, side) and the id -> slot table
// are synchronous-read RAMs (one read address, registered read data, one write port
// each: block-RAM style); the per-level head/tail pointers and totals, the non-empty
// bitmap and the slot-used bitmap are registers (2L and C bits; priority encoders find
// the best level and the first free slot). Queue links are only followed between a level's head and
// tail, so a stale link at either end is never read and each operation writes each RAM
// at most once.
//
// Timing (cycles from in_valid && in_ready): S_IDLE (id table read), S_ID (order read),
// S_ORD (checks; ACCEPT/MODIFY/REJECT/OUT event), then for a NEW or re-entering MODIFY
// S_MATCH (one cycle: rest, IOC/FOK out or done) with two cycles per fill (S_MATCH reads
// the head, S_FILL writes the TRADE). So a REJECT, CANCEL or in-place MODIFY takes 3
// cycles, a NEW or re-entering MODIFY 4 + 2 per fill; in_ready is high
// only in S_IDLE. At most one event per cycle (ev_valid); the consumer never stalls it.
//
// Planted bugs for showing the tests fail (HW_MATCH_VFLAGS in CMake, HW_LINT_EXTRA):
// HW_BUG_LIFO (a resting order joins the front of its level), HW_BUG_FULL_IOC (IOC gets
// FULL), HW_BUG_FOK_GT (an FOK for exactly the crossing quantity is refused),
// HW_BUG_MOD_PRIO (a MODIFY to the same price and qty re-enters, losing its priority).
module hw_match #(
    parameter L    = 16,   // price levels in the window (a power of two)
    parameter C    = 31,   // resting order capacity (C < 2^CW)
    parameter IDW  = 10,   // order id width (ids 0 .. 2^IDW-1)
    parameter QW   = 32,   // quantity width (signed on input)
    parameter MAXQ = 1000  // largest accepted quantity (me_params.max_qty)
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire                  in_valid,
    output wire                  in_ready,
    input  wire [2:0]            in_type,   // 1 NEW, 2 CANCEL, 3 MODIFY (others INVALID)
    input  wire [1:0]            in_side,   // 0 buy, 1 sell (2, 3 INVALID)
    input  wire [2:0]            in_tif,    // 0 GTC 1 IOC 2 FOK 3 POST (others INVALID)
    input  wire [IDW-1:0]        in_id,
    input  wire signed [31:0]    in_price,  // ticks from the window's base
    input  wire signed [QW-1:0]  in_qty,
    output reg                   ev_valid,
    output reg  [2:0]            ev_type,   // me_ev_type: 1 ACCEPT 2 TRADE 3 OUT 4 REJECT
    output reg  [3:0]            ev_reason, // me_out / me_rej
    output reg  [1:0]            ev_side,
    output reg  [IDW-1:0]        ev_id,
    output reg  [LW-1:0]         ev_price,  // level index (ACCEPT, TRADE)
    output reg  [QW-1:0]         ev_qty,
    output reg  [QW-1:0]         ev_leaves,
    output reg  [IDW-1:0]        ev_rid,
    output reg  [QW-1:0]         ev_rleaves,
    output wire                  busy
);
    localparam LW = (L > 1) ? $clog2(L) : 1;   // queue key = {side, level}
    localparam CW = $clog2(C + 1);
    localparam NID = 1 << IDW;
    localparam TW = QW + CW;                   // a level's total quantity

    localparam S_IDLE = 3'd0, S_ID = 3'd1, S_ORD = 3'd2, S_MATCH = 3'd3, S_FILL = 3'd4;
    localparam EV_ACCEPT = 3'd1, EV_TRADE = 3'd2, EV_OUT = 3'd3, EV_REJECT = 3'd4,
               EV_MODIFY = 3'd5;
    localparam OUT_CANCEL = 4'd1, OUT_IOC = 4'd2;
    localparam OUT_FOK = 4'd3;
    localparam REJ_POST_CROSS = 4'd4;
    localparam REJ_INVALID = 4'd1, REJ_DUP = 4'd2, REJ_UNKNOWN = 4'd3, REJ_BAND = 4'd6,
               REJ_MAX_QTY = 4'd7, REJ_FULL = 4'd8;

    reg [2:0] st;
    assign in_ready = (st == S_IDLE);
    assign busy = (st != S_IDLE);

    // the command being processed
    reg [2:0]           c_type;
    reg [1:0]           c_side;
    reg [2:0]           c_tif;
    reg [IDW-1:0]       c_id;
    reg signed [31:0]   c_px;
    reg signed [QW-1:0] c_qty;
    reg [QW-1:0]        rem;     // the aggressor's remaining quantity
    wire [LW-1:0]       lvl = c_px[LW-1:0];

    // RAMs (synchronous read, one write port each)
    reg [CW-1:0]  id_slot [0:NID-1];
    reg [IDW-1:0] o_id    [0:C-1];
    reg [QW-1:0]  o_qty   [0:C-1];
    reg [CW-1:0]  o_next  [0:C-1];
    reg [CW-1:0]  o_prev  [0:C-1];
    reg [LW-1:0]  o_lvl   [0:C-1];
    reg           o_side  [0:C-1];
    reg           o_post  [0:C-1];   // rests as POST (a MODIFY that would cross is refused)
    reg [CW-1:0]  r_slot;
    reg [IDW-1:0] r_oid;
    reg [QW-1:0]  r_oqty;
    reg [CW-1:0]  r_onext, r_oprev;
    reg [LW-1:0]  r_olvl;
    reg           r_oside, r_opost;

    // registers: per-level queue ends, non-empty bits, used slots
    reg [CW-1:0]  lv_head [0:2*L-1];
    reg [CW-1:0]  lv_tail [0:2*L-1];
    reg [2*L-1:0] ne;
    reg [C-1:0]   used;
    reg [TW-1:0]  lv_tot  [0:2*L-1];   // total resting quantity of a level (valid if ne)

    // best level of each side, first free slot
    reg [LW-1:0] best_bid, best_ask;
    reg [CW-1:0] free_slot;
    integer i;
    always @* begin
        best_bid = {LW{1'b0}};
        for (i = 0; i < L; i = i + 1)
            if (ne[i]) best_bid = i[LW-1:0];
        best_ask = {LW{1'b0}};
        for (i = L - 1; i >= 0; i = i - 1)
            if (ne[L + i]) best_ask = i[LW-1:0];
        free_slot = {CW{1'b0}};
        for (i = C - 1; i >= 0; i = i - 1)
            if (!used[i]) free_slot = i[CW-1:0];
    end
    wire full = &used;

    // S_MATCH: does the aggressor crs the opposite side's best level?
    // the aggressor's side: a MODIFY's is the looked-up order's while in S_ORD (c_side
    // takes it for S_MATCH)
    wire          a_side = (st == S_ORD && c_type == 3'd3) ? r_oside : c_side[0];
    wire          opp    = ~a_side;
    wire [LW-1:0] bl     = opp ? best_ask : best_bid;
    wire          opp_ne = opp ? |ne[2*L-1:L] : |ne[L-1:0];
    wire          crs  = opp_ne && (a_side ? (bl >= lvl) : (bl <= lvl));
    wire [LW:0]   mkey   = {opp, bl};
    wire [LW:0]   rkey   = {c_side[0], lvl};
    reg  [CW-1:0] m_h;
    reg  [LW-1:0] m_bl;
    reg  [LW:0]   m_key;

    // S_ORD: a FOK's fillability: the opposite side's quantity at the levels it crosses
    // (no self-trade prevention here, so every crossing order counts)
    wire          rests = (c_tif == 3'd0) || (c_tif == 3'd3);   // GTC, POST
    reg [TW+LW-1:0] fok_sum;
    reg             fok_ok;
    always @* begin
        fok_sum = {TW+LW{1'b0}};
        for (i = 0; i < L; i = i + 1)
            if (ne[{opp, i[LW-1:0]}] && (c_side[0] ? (i[LW-1:0] >= lvl) : (i[LW-1:0] <= lvl)))
                fok_sum = fok_sum + {{LW{1'b0}}, lv_tot[{opp, i[LW-1:0]}]};
    end

    // S_ORD: the looked-up order, live when its slot is used and holds this id
    wire          slot_ok = (r_slot < C[CW-1:0]);
    wire          live    = slot_ok && used[r_slot] && (r_oid == c_id);
    wire [LW:0]   ckey    = {r_oside, r_olvl};

    // S_FILL
    wire [QW-1:0] tq = (rem < r_oqty) ? rem : r_oqty;

    // one read address for the order RAMs
    reg [CW-1:0] ra;
    always @* begin
        ra = r_slot;                  // S_ID: the looked-up order
        if (st == S_MATCH) ra = lv_head[mkey];
    end
    always @(posedge clk) begin
        if (st == S_IDLE) r_slot <= id_slot[in_id];
        if (ra < C[CW-1:0]) begin
            r_oid   <= o_id[ra];
            r_oqty  <= o_qty[ra];
            r_onext <= o_next[ra];
            r_oprev <= o_prev[ra];
            r_olvl  <= o_lvl[ra];
            r_oside <= o_side[ra];
            r_opost <= o_post[ra];
        end else begin
            r_oid   <= {IDW{1'b1}} ^ c_id;   // never equal to c_id: not live
            r_oqty  <= {QW{1'b0}};
            r_onext <= {CW{1'b0}};
            r_oprev <= {CW{1'b0}};
            r_olvl  <= {LW{1'b0}};
            r_oside <= 1'b0;
            r_opost <= 1'b0;
        end
    end

    task emit;
        input [2:0] ty;
        input [3:0] rs;
        input [1:0] sd;
        input [IDW-1:0] id;
        input [LW-1:0] px;
        input [QW-1:0] q;
        input [QW-1:0] lv;
        input [IDW-1:0] rid;
        input [QW-1:0] rlv;
        begin
            ev_valid <= 1'b1; ev_type <= ty; ev_reason <= rs; ev_side <= sd; ev_id <= id;
            ev_price <= px; ev_qty <= q; ev_leaves <= lv; ev_rid <= rid; ev_rleaves <= rlv;
        end
    endtask

    // takes the looked-up order (r_*) out of its queue and frees its slot (S_ORD)
    task unlink;
        begin
            used[r_slot] <= 1'b0;
            lv_tot[ckey] <= lv_tot[ckey] - {{CW{1'b0}}, r_oqty};
            if (lv_head[ckey] == r_slot && lv_tail[ckey] == r_slot)
                ne[ckey] <= 1'b0;
            else if (lv_head[ckey] == r_slot)
                lv_head[ckey] <= r_onext;
            else if (lv_tail[ckey] == r_slot)
                lv_tail[ckey] <= r_oprev;
            else begin
                o_next[r_oprev] <= r_onext;
                o_prev[r_onext] <= r_oprev;
            end
        end
    endtask

    always @(posedge clk) begin
        ev_valid <= 1'b0;
        if (rst) begin
            st <= S_IDLE;
            ne <= {2*L{1'b0}};
            used <= {C{1'b0}};
        end else begin
            case (st)
            S_IDLE: if (in_valid) begin
                c_type <= in_type; c_side <= in_side; c_tif <= in_tif; c_id <= in_id;
                c_px <= in_price; c_qty <= in_qty;
                st <= S_ID;
            end
            S_ID: st <= S_ORD;
            S_ORD: begin
                st <= S_IDLE;
                if (c_type == 3'd1) begin
                    if (c_side > 2'd1 || c_tif > 3'd3 || c_qty <= 0)
                        emit(EV_REJECT, REJ_INVALID, c_side, c_id, 0, 0, 0, 0, 0);
                    else if (c_px < 0 || c_px >= L)
                        emit(EV_REJECT, REJ_BAND, c_side, c_id, 0, 0, 0, 0, 0);
                    else if (c_qty > MAXQ)
                        emit(EV_REJECT, REJ_MAX_QTY, c_side, c_id, 0, 0, 0, 0, 0);
                    else if (live)
                        emit(EV_REJECT, REJ_DUP, c_side, c_id, 0, 0, 0, 0, 0);
`ifdef HW_BUG_FULL_IOC  // planted bug: IOC refused FULL too
                    else if (full)
`else
                    else if (rests && full)
`endif
                        emit(EV_REJECT, REJ_FULL, c_side, c_id, 0, 0, 0, 0, 0);
                    else if (c_tif == 3'd3 && crs)
                        emit(EV_REJECT, REJ_POST_CROSS, c_side, c_id, 0, 0, 0, 0, 0);
                    else begin
                        emit(EV_ACCEPT, 0, c_side, c_id, lvl, c_qty, c_qty, 0, 0);
                        rem <= c_qty;
`ifdef HW_BUG_FOK_GT  // planted bug: an FOK that takes exactly what crosses is refused
                        fok_ok <= (fok_sum > {{TW+LW-QW{1'b0}}, c_qty});
`else
                        fok_ok <= (fok_sum >= {{TW+LW-QW{1'b0}}, c_qty});
`endif
                        st <= S_MATCH;
                    end
                end else if (c_type == 3'd2) begin
                    if (!live)
                        emit(EV_REJECT, REJ_UNKNOWN, 0, c_id, 0, 0, 0, 0, 0);
                    else begin
                        emit(EV_OUT, OUT_CANCEL, {1'b0, r_oside}, c_id, 0, r_oqty, 0, 0, 0);
                        unlink;
                    end
                end else if (c_type == 3'd3) begin   // MODIFY to (c_px, c_qty)
                    if (!live)
                        emit(EV_REJECT, REJ_UNKNOWN, 0, c_id, 0, 0, 0, 0, 0);
                    else if (c_qty <= 0)
                        emit(EV_REJECT, REJ_INVALID, {1'b0, r_oside}, c_id, 0, 0, r_oqty, 0, 0);
                    else if (c_px < 0 || c_px >= L)
                        emit(EV_REJECT, REJ_BAND, {1'b0, r_oside}, c_id, 0, 0, r_oqty, 0, 0);
                    else if (c_qty > MAXQ)
                        emit(EV_REJECT, REJ_MAX_QTY, {1'b0, r_oside}, c_id, 0, 0, r_oqty, 0, 0);
`ifdef HW_BUG_MOD_PRIO  // planted bug: a MODIFY to the same qty loses its priority
                    else if (lvl == r_olvl && c_qty[QW-1:0] < r_oqty) begin
`else
                    else if (lvl == r_olvl && c_qty[QW-1:0] <= r_oqty) begin
`endif
                        // reduce in place (or nothing): keeps its priority
                        emit(EV_MODIFY, 0, {1'b0, r_oside}, c_id, lvl, c_qty, c_qty, 0, 0);
                        o_qty[r_slot] <= c_qty;
                        lv_tot[ckey] <= lv_tot[ckey] - {{CW{1'b0}}, r_oqty - c_qty};
                    end else if (r_opost && crs)
                        emit(EV_REJECT, REJ_POST_CROSS, {1'b0, r_oside}, c_id, 0, 0, r_oqty,
                             0, 0);
                    else begin
                        // leaves its queue and re-enters as an aggressor of its own tif
                        emit(EV_MODIFY, 0, {1'b0, r_oside}, c_id, lvl, c_qty, c_qty, 0, 0);
                        unlink;
                        c_side <= {1'b0, r_oside};
                        c_tif <= r_opost ? 3'd3 : 3'd0;
                        rem <= c_qty;
                        st <= S_MATCH;
                    end
                end else
                    emit(EV_REJECT, REJ_INVALID, c_side, c_id, 0, 0, 0, 0, 0);
            end
            S_MATCH: begin
                if (c_tif == 3'd2 && !fok_ok) begin   // FOK not fillable: nothing trades
                    emit(EV_OUT, OUT_FOK, c_side, c_id, 0, rem, 0, 0, 0);
                    st <= S_IDLE;
                end else if (rem != 0 && crs) begin
                    m_h <= lv_head[mkey];     // its fields are being read (ra)
                    m_bl <= bl;
                    m_key <= mkey;
                    st <= S_FILL;
                end else begin
                    st <= S_IDLE;
                    if (rem != 0) begin
                        if (!rests)   // IOC (a fillable FOK never gets here)
                            emit(EV_OUT, OUT_IOC, c_side, c_id, 0, rem, 0, 0, 0);
                        else begin                  // GTC: rest at the back of its level
                            o_id[free_slot] <= c_id;
                            o_qty[free_slot] <= rem;
                            o_lvl[free_slot] <= lvl;
                            o_side[free_slot] <= c_side[0];
                            o_post[free_slot] <= (c_tif == 3'd3);
                            id_slot[c_id] <= free_slot;
                            used[free_slot] <= 1'b1;
                            lv_tot[rkey] <= (ne[rkey] ? lv_tot[rkey] : {TW{1'b0}})
                                            + {{CW{1'b0}}, rem};
                            if (ne[rkey]) begin
`ifdef HW_BUG_LIFO  // planted bug: joins the front of its level's queue
                                o_next[free_slot] <= lv_head[rkey];
                                o_prev[lv_head[rkey]] <= free_slot;
                                lv_head[rkey] <= free_slot;
`else
                                o_next[lv_tail[rkey]] <= free_slot;
                                o_prev[free_slot] <= lv_tail[rkey];
                                lv_tail[rkey] <= free_slot;
`endif
                            end else begin
                                ne[rkey] <= 1'b1;
                                lv_head[rkey] <= free_slot;
                                lv_tail[rkey] <= free_slot;
                            end
                        end
                    end
                end
            end
            S_FILL: begin
                emit(EV_TRADE, 0, c_side, c_id, m_bl, tq, rem - tq, r_oid, r_oqty - tq);
                rem <= rem - tq;
                lv_tot[m_key] <= lv_tot[m_key] - {{CW{1'b0}}, tq};
                if (r_oqty == tq) begin               // the resting order is filled
                    used[m_h] <= 1'b0;
                    if (lv_tail[m_key] == m_h)
                        ne[m_key] <= 1'b0;
                    else
                        lv_head[m_key] <= r_onext;
                end else
                    o_qty[m_h] <= r_oqty - tq;
                st <= S_MATCH;
            end
            default: st <= S_IDLE;
            endcase
        end
    end
endmodule
