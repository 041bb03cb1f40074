-- scripts/wireshark/tokex.lua - Wireshark/tshark dissector for the tokex wire protocol.
--
-- Role: the operator's and developer's view of the wire; outside the data path. It decodes
-- what include/tokex/proto.h defines, and nothing else:
--   order entry over UDP (port 7411, both ways): SBE messages back to back in a datagram;
--     application messages after a Sequence are numbered from its next_seq_no; a session's
--     datagrams end with a DatagramAuth (counter and MAC, shown but not verified);
--   order entry over TCP (port 7412): each message behind a Simple Open Framing Header
--     (big-endian length incl. the 6-byte SOFH, encoding type 0xEB50), reassembled with
--     dissect_tcp_pdus, so several frames per segment and frames split across segments work;
--   market data (port 7413) and its re-request (port 7414): MoldUDP64-style packets,
--     20-byte little-endian header then `count` messages, each behind a uint16 length.
--
-- Names: every field of every message is a ProtoField tokex.<message>.<field>, <message>
-- being the proto.h struct name without "tkx_" (tokex.new_order.price, tokex.fill.trade_id,
-- tokex.md_trade.price); a message's own node is tokex.<message>. Framing: tokex.hdr.*,
-- tokex.sofh.*, tokex.md.* (tokex.md.sequence ...). Prices are int64 in 0.0001 units and are
-- labelled as decimals ("null" for INT64_MIN); timestamps get a UTC date.
-- Anything that does not follow proto.h gets an expert info (filter: tokex.expert) and the
-- dissector carries on or stops, but never raises a Lua error.
--
-- Use: tshark -X lua_script:scripts/wireshark/tokex.lua -r capture.pcap, or copy the file
-- into the personal Lua plugins folder (Help > About Wireshark > Folders). Ports are
-- preferences (Protocols > TOKEX); Decode As works too.
-- Written for the Lua API of Wireshark 4.0 (Lua 5.2); nothing in it is newer than 3.x.

local tokex = Proto("tokex", "tokex AI-token futures protocol")

-- proto.h constants
local SCHEMA_ID = 7411
local SCHEMA_VERSION = 3 -- 3: DAY, icebergs, stop orders (NewOrder 48 bytes), StopElected; market data 305-307
local SOFH_ENCODING = 0xEB50
local SOFH_LEN = 6
local HDR_LEN = 8
local MAX_MSG_LEN = 128 -- header + largest block; a SOFH frame above 6 + this is bogus
local MD_HDR_LEN = 20
local MD_HEARTBEAT = 0
local MD_END_OF_SESSION = 0xFFFF
local PORT_ORDER_UDP, PORT_ORDER_TCP, PORT_MD, PORT_MD_REQ = 7411, 7412, 7413, 7414
local TID_SEQUENCE = 7
local PT_TCP = 2 -- epan's port_type: PT_NONE, PT_SCTP, PT_TCP, PT_UDP, ...

---------------------------------------------------------------------------------------------
-- Value strings (proto.h enums)

local vs_template = {
    [1] = "Negotiate", [2] = "NegotiationResponse", [3] = "NegotiationReject",
    [4] = "Establish", [5] = "EstablishmentAck", [6] = "EstablishmentReject",
    [7] = "Sequence", [8] = "NotApplied", [9] = "RetransmitRequest",
    [10] = "Retransmission", [11] = "RetransmitReject", [12] = "Terminate",
    [13] = "DatagramAuth", [100] = "NewOrder", [101] = "CancelOrder", [102] = "ModifyOrder", [103] = "MassCancel",
    [200] = "ExecAck", [201] = "ExecReject", [202] = "Fill", [203] = "Cancelled",
    [204] = "ModifyAck", [205] = "MassCancelAck", [206] = "BusinessReject",
    [207] = "StopElected",
    [300] = "TopOfBook", [301] = "Trade", [302] = "ContractStatus", [303] = "Snapshot",
    [304] = "GapReject", [305] = "InstrumentDefinition", [306] = "OrderBook", [307] = "Depth",
}
local vs_side = { [1] = "Buy", [2] = "Sell" }
local vs_aggressor = { [0] = "None (uncross)", [1] = "Buy", [2] = "Sell" }
local vs_settle = { [1] = "Cash, index mean" }
local vs_action = { [1] = "Add", [2] = "Modify", [3] = "Delete", [4] = "Execute", [5] = "Snapshot" }
local vs_side0 = { [0] = "Both", [1] = "Buy", [2] = "Sell" } -- mass cancel: 0 = both sides
local vs_tif = { [1] = "GTC", [2] = "IOC", [3] = "FOK", [4] = "Post-only", [5] = "Day" }
local vs_scope = { [1] = "Session", [2] = "Account" }
local vs_bool = { [0] = "No", [1] = "Yes" }
local vs_reject = {
    [1] = "Invalid price", [2] = "Invalid quantity", [3] = "Invalid side",
    [4] = "Invalid TIF", [5] = "Unknown contract", [6] = "ClOrdID reused",
    [7] = "Unknown order", [8] = "Post-only would cross", [9] = "Off tick",
    [10] = "Outside price band", [11] = "Above max quantity", [12] = "Book full",
    [13] = "Busy", [14] = "Wrong phase", [15] = "Halted", [16] = "Throttled",
    [17] = "Kill switch", [18] = "Position limit", [19] = "Duplicate order",
    [20] = "Not owner", [21] = "Storage", [22] = "Invalid scope", [23] = "Invalid account",
    [24] = "Invalid show quantity", [25] = "Invalid stop price",
}
local vs_cancel = {
    [1] = "Client", [2] = "IOC expired", [3] = "FOK unfilled", [4] = "Self-trade prevention",
    [5] = "Mass cancel", [6] = "Disconnect", [7] = "Kill switch", [8] = "Expiry",
    [9] = "Operator", [10] = "Day end", [11] = "Elected stop refused",
}
local vs_sreject = {
    [1] = "Unknown firm", [2] = "Bad credentials", [3] = "Stale timestamp",
    [4] = "Session in use", [5] = "Not negotiated", [6] = "Bad keepalive",
    [7] = "Not established", [8] = "Out of range", [9] = "Too many", [10] = "Unspecified",
    [11] = "Session limit",
}
local vs_term = {
    [0] = "Finished", [1] = "Unspecified", [2] = "Keepalive timeout", [3] = "Protocol error",
    [4] = "Throttle", [5] = "Shutdown", [6] = "Sequence below expected",
}
local vs_breject = {
    [1] = "Not established", [2] = "Wrong direction", [3] = "Invalid field",
    [4] = "Unsupported",
}
local vs_phase = {
    [0] = "Defined", [1] = "Listed", [2] = "Pre-open", [3] = "Auction", [4] = "Continuous",
    [5] = "Break", [6] = "Halted", [7] = "Closed", [8] = "Settled", [9] = "Expired",
    [10] = "Final settled", [11] = "Delisted",
}
local vs_encoding = { [0xEB50] = "SBE 1.0 little-endian", [0x5BE0] = "SBE 1.0 big-endian" }

---------------------------------------------------------------------------------------------
-- Messages: one row per proto.h struct, fields in wire order. Offsets are summed from the
-- sizes and checked against the struct size and natural alignment when the script loads.
-- Kinds: u8 u16 u32 u64 (unsigned), price (int64, 4 implied decimals), time (uint64 ns
-- since the Unix epoch), bytes (n bytes).

local MESSAGES = {
    { 1, "negotiate", 56, {
        { "session_id", "u64" }, { "timestamp", "time" }, { "firm_id", "u32" },
        { "reserved", "u32" }, { "credentials", "bytes", n = 32 } } },
    { 2, "negotiation_response", 24, {
        { "session_id", "u64" }, { "request_timestamp", "time" }, { "firm_id", "u32" },
        { "reserved", "u32" } } },
    { 3, "negotiation_reject", 24, {
        { "session_id", "u64" }, { "request_timestamp", "time" },
        { "reason", "u16", vs = vs_sreject }, { "reserved1", "u16" }, { "reserved2", "u32" } } },
    { 4, "establish", 64, {
        { "session_id", "u64" }, { "timestamp", "time" }, { "next_seq_no", "u64" },
        { "keepalive_ms", "u32" }, { "cancel_on_disconnect", "u8", vs = vs_bool },
        { "reserved", "bytes", n = 3 }, { "credentials", "bytes", n = 32 } } },
    { 5, "establishment_ack", 40, {
        { "session_id", "u64" }, { "request_timestamp", "time" }, { "next_seq_no", "u64" },
        { "expected_seq_no", "u64" }, { "keepalive_ms", "u32" }, { "reserved", "u32" } } },
    { 6, "establishment_reject", 24, {
        { "session_id", "u64" }, { "request_timestamp", "time" },
        { "reason", "u16", vs = vs_sreject }, { "reserved1", "u16" }, { "reserved2", "u32" } } },
    { 7, "sequence", 8, {
        { "next_seq_no", "u64" } } },
    { 8, "not_applied", 16, {
        { "from_seq_no", "u64" }, { "count", "u32" }, { "reserved", "u32" } } },
    { 9, "retransmit_request", 32, {
        { "session_id", "u64" }, { "timestamp", "time" }, { "from_seq_no", "u64" },
        { "count", "u32" }, { "reserved", "u32" } } },
    { 10, "retransmission", 32, {
        { "session_id", "u64" }, { "request_timestamp", "time" }, { "next_seq_no", "u64" },
        { "count", "u32" }, { "reserved", "u32" } } },
    { 11, "retransmit_reject", 24, {
        { "session_id", "u64" }, { "request_timestamp", "time" },
        { "reason", "u16", vs = vs_sreject }, { "reserved1", "u16" }, { "reserved2", "u32" } } },
    { 12, "terminate", 16, {
        { "session_id", "u64" }, { "reason", "u16", vs = vs_term }, { "reserved1", "u16" },
        { "reserved2", "u32" } } },
    -- The last message of every UDP datagram of a session (protocol 4.13). The MAC needs
    -- the session's key (derived from the firm's secret): shown, not checked.
    { 13, "datagram_auth", 16, {
        { "counter", "u64" }, { "mac", "bytes", n = 8 } } },

    { 100, "new_order", 48, {
        { "cl_ord_id", "u64" }, { "price", "price" }, { "qty", "u32" },
        { "contract_id", "u32" }, { "account", "u32" }, { "side", "u8", vs = vs_side },
        { "tif", "u8", vs = vs_tif }, { "reserved", "u16" }, { "stop_price", "price" },
        { "show_qty", "u32" }, { "reserved2", "u32" } } },
    { 101, "cancel_order", 24, {
        { "cl_ord_id", "u64" }, { "order_id", "u64" }, { "contract_id", "u32" },
        { "reserved", "u32" } } },
    { 102, "modify_order", 32, {
        { "cl_ord_id", "u64" }, { "order_id", "u64" }, { "price", "price" }, { "qty", "u32" },
        { "contract_id", "u32" } } },
    { 103, "mass_cancel", 24, {
        { "cl_ord_id", "u64" }, { "contract_id", "u32" }, { "account", "u32" },
        { "scope", "u8", vs = vs_scope }, { "side", "u8", vs = vs_side0 },
        { "reserved", "bytes", n = 6 } } },

    { 200, "exec_ack", 48, {
        { "cl_ord_id", "u64" }, { "order_id", "u64" }, { "price", "price" },
        { "transact_time", "time" }, { "qty", "u32" }, { "contract_id", "u32" },
        { "side", "u8", vs = vs_side }, { "tif", "u8", vs = vs_tif }, { "reserved1", "u16" },
        { "reserved2", "u32" } } },
    { 201, "exec_reject", 32, {
        { "cl_ord_id", "u64" }, { "transact_time", "time" }, { "order_id", "u64" },
        { "contract_id", "u32" }, { "reason", "u16", vs = vs_reject },
        { "ref_template_id", "u16", vs = vs_template } } },
    { 202, "fill", 56, {
        { "cl_ord_id", "u64" }, { "order_id", "u64" }, { "trade_id", "u64" },
        { "price", "price" }, { "transact_time", "time" }, { "qty", "u32" },
        { "leaves_qty", "u32" }, { "contract_id", "u32" }, { "side", "u8", vs = vs_side },
        { "aggressor", "u8", vs = vs_bool }, { "reserved", "u16" } } },
    { 203, "cancelled", 48, {
        { "cl_ord_id", "u64" }, { "order_id", "u64" }, { "transact_time", "time" },
        { "orig_cl_ord_id", "u64" }, { "qty", "u32" }, { "contract_id", "u32" },
        { "reason", "u8", vs = vs_cancel }, { "side", "u8", vs = vs_side },
        { "reserved1", "u16" }, { "reserved2", "u32" } } },
    { 204, "modify_ack", 48, {
        { "cl_ord_id", "u64" }, { "order_id", "u64" }, { "price", "price" },
        { "transact_time", "time" }, { "qty", "u32" }, { "contract_id", "u32" },
        { "side", "u8", vs = vs_side }, { "reserved1", "bytes", n = 3 },
        { "reserved2", "u32" } } },
    { 205, "mass_cancel_ack", 32, {
        { "cl_ord_id", "u64" }, { "transact_time", "time" }, { "count", "u32" },
        { "contract_id", "u32" }, { "account", "u32" }, { "scope", "u8", vs = vs_scope },
        { "side", "u8", vs = vs_side0 }, { "reserved", "u16" } } },
    { 206, "business_reject", 24, {
        { "ref_seq_no", "u64" }, { "transact_time", "time" },
        { "ref_template_id", "u16", vs = vs_template }, { "reason", "u16", vs = vs_breject },
        { "reserved", "u32" } } },
    { 207, "stop_elected", 48, {
        { "cl_ord_id", "u64" }, { "order_id", "u64" }, { "price", "price" },
        { "transact_time", "time" }, { "qty", "u32" }, { "contract_id", "u32" },
        { "side", "u8", vs = vs_side }, { "reserved1", "bytes", n = 3 },
        { "reserved2", "u32" } } },

    { 300, "md_top_of_book", 48, {
        { "transact_time", "time" }, { "bid_price", "price" }, { "ask_price", "price" },
        { "bid_qty", "u64" }, { "ask_qty", "u64" }, { "contract_id", "u32" },
        { "reserved", "u32" } } },
    { 301, "md_trade", 40, {
        { "transact_time", "time" }, { "trade_id", "u64" }, { "price", "price" },
        { "qty", "u32" }, { "contract_id", "u32" }, { "aggressor_side", "u8", vs = vs_aggressor },
        { "reserved1", "bytes", n = 3 }, { "reserved2", "u32" } } },
    { 302, "md_contract_status", 24, {
        { "transact_time", "time" }, { "contract_id", "u32" },
        { "phase", "u8", vs = vs_phase }, { "reserved1", "u8" }, { "reserved2", "u16" },
        { "price", "price" } } },
    { 303, "md_snapshot", 72, {
        { "transact_time", "time" }, { "as_of_seq", "u64" }, { "bid_price", "price" },
        { "ask_price", "price" }, { "bid_qty", "u64" }, { "ask_qty", "u64" },
        { "last_price", "price" }, { "volume", "u64" }, { "contract_id", "u32" },
        { "phase", "u8", vs = vs_phase }, { "reserved1", "bytes", n = 3 } } },
    { 304, "md_gap_reject", 16, {
        { "first_available_seq", "u64" }, { "requested_seq", "u64" } } },
    { 305, "md_instrument", 72, {
        { "tick", "price" }, { "limit_lo", "price" }, { "limit_hi", "price" },
        { "prev_settle", "price" }, { "contract_id", "u32" }, { "max_qty", "u32" },
        { "first_day", "u32" }, { "last_day", "u32" }, { "unit", "u32" },
        { "currency", "bytes", n = 3 }, { "phase", "u8", vs = vs_phase },
        { "settle_method", "u8", vs = vs_settle }, { "reserved", "bytes", n = 3 },
        { "symbol", "bytes", n = 12 } } },
    { 306, "md_order", 56, {
        { "transact_time", "time" }, { "order_id", "u64" }, { "price", "price" },
        { "priority", "u64" }, { "trade_id", "u64" }, { "qty", "u32" }, { "exec_qty", "u32" },
        { "contract_id", "u32" }, { "action", "u8", vs = vs_action },
        { "side", "u8", vs = vs_side }, { "reserved", "u16" } } },
    { 307, "md_depth", 40, {
        { "transact_time", "time" }, { "price", "price" }, { "qty", "u64" },
        { "contract_id", "u32" }, { "level", "u8" }, { "side", "u8", vs = vs_side },
        { "flags", "u8" }, { "depth", "u8" }, { "reserved", "u64" } } },
}

---------------------------------------------------------------------------------------------
-- ProtoFields

local SIZE = { u8 = 1, u16 = 2, u32 = 4, u64 = 8, price = 8, time = 8 }
local UINT_FIELD = { u8 = ProtoField.uint8, u16 = ProtoField.uint16, u32 = ProtoField.uint32 }
local WORDS = { id = "ID", ms = "(ms)", tif = "TIF", qty = "Qty", seq = "Seq", no = "No" }

-- "cl_ord_id" -> "Cl Ord ID"
local function label_of(name)
    local words = {}
    for w in name:gmatch("[^_]+") do
        words[#words + 1] = WORDS[w] or (w:sub(1, 1):upper() .. w:sub(2))
    end
    return table.concat(words, " ")
end

local fields = {}
local function field(pf)
    fields[#fields + 1] = pf
    return pf
end

local F = {
    hdr = field(ProtoField.none("tokex.hdr", "SBE Header")),
    block_length = field(ProtoField.uint16("tokex.hdr.block_length", "Block Length", base.DEC)),
    template_id = field(ProtoField.uint16("tokex.hdr.template_id", "Template ID", base.DEC,
                                          vs_template)),
    schema_id = field(ProtoField.uint16("tokex.hdr.schema_id", "Schema ID", base.DEC)),
    version = field(ProtoField.uint16("tokex.hdr.version", "Version", base.DEC)),
    unknown = field(ProtoField.none("tokex.unknown", "Unknown message")),
    implicit_seq = field(ProtoField.uint64("tokex.implicit_seq_no", "Implicit Seq No", base.DEC,
        nil, nil, "Application sequence number implied by the datagram's Sequence message")),

    sofh = field(ProtoField.none("tokex.sofh", "Simple Open Framing Header")),
    sofh_length = field(ProtoField.uint32("tokex.sofh.length", "Message Length", base.DEC)),
    sofh_encoding = field(ProtoField.uint16("tokex.sofh.encoding", "Encoding Type", base.HEX,
                                            vs_encoding)),

    md = field(ProtoField.none("tokex.md", "MoldUDP64 Header")),
    md_session = field(ProtoField.string("tokex.md.session", "Session")),
    md_sequence = field(ProtoField.uint64("tokex.md.sequence", "Sequence", base.DEC)),
    md_count = field(ProtoField.uint16("tokex.md.count", "Count", base.DEC)),
    md_message = field(ProtoField.none("tokex.md.message", "Message Block")),
    md_msg_length = field(ProtoField.uint16("tokex.md.msg_length", "Message Length", base.DEC)),
    md_msg_seq = field(ProtoField.uint64("tokex.md.msg_seq", "Message Sequence", base.DEC,
        nil, nil, "Stream sequence of this message: header sequence + its index")),
}

local BY_TID = {}
for _, m in ipairs(MESSAGES) do
    m.tid, m.abbr, m.size, m.fields = m[1], m[2], m[3], m[4]
    m.title = vs_template[m.tid]
    m.pf = field(ProtoField.none("tokex." .. m.abbr, m.title))
    local off = 0
    for _, f in ipairs(m.fields) do
        local abbr = "tokex." .. m.abbr .. "." .. f[1]
        f.name, f.kind, f.label = f[1], f[2], label_of(f[1])
        f.size, f.off = f.n or SIZE[f.kind], off
        f.reserved = f.name:find("^reserved") ~= nil
        if f.kind == "u64" or f.kind == "time" then
            f.pf = ProtoField.uint64(abbr, f.label, base.DEC)
        elseif f.kind == "price" then
            f.pf = ProtoField.int64(abbr, f.label, base.DEC, nil, nil, "Price, 4 implied decimals")
        elseif f.kind == "bytes" then
            f.pf = ProtoField.bytes(abbr, f.label)
        else
            f.pf = UINT_FIELD[f.kind](abbr, f.label, base.DEC, f.vs)
        end
        field(f.pf)
        assert(f.kind == "bytes" or off % f.size == 0,
               "tokex.lua: " .. abbr .. " is not naturally aligned")
        off = off + f.size
    end
    assert(off == m.size, string.format("tokex.lua: %s adds up to %d bytes, proto.h says %d",
                                        m.abbr, off, m.size))
    BY_TID[m.tid] = m
end
tokex.fields = fields

local function new_expert(abbr, text, group, severity)
    return ProtoExpert.new("tokex.expert." .. abbr, text, group, severity)
end
local E = {
    truncated = new_expert("truncated", "Truncated", expert.group.MALFORMED,
                       expert.severity.ERROR),
    bad_schema = new_expert("bad_schema", "Wrong schema id", expert.group.MALFORMED,
                        expert.severity.ERROR),
    bad_version = new_expert("bad_version", "Unexpected schema version", expert.group.PROTOCOL,
                         expert.severity.WARN),
    unknown_template = new_expert("unknown_template", "Unknown template", expert.group.MALFORMED,
                              expert.severity.ERROR),
    bad_block_length = new_expert("bad_block_length", "Wrong blockLength for the template",
                              expert.group.MALFORMED, expert.severity.ERROR),
    reserved_nonzero = new_expert("reserved_nonzero", "Reserved field not zero",
                              expert.group.PROTOCOL, expert.severity.WARN),
    bad_enum = new_expert("bad_enum", "Value out of the field's range", expert.group.PROTOCOL,
                      expert.severity.WARN),
    bad_encoding = new_expert("bad_encoding", "SOFH encoding type is not SBE 1.0 little-endian",
                          expert.group.MALFORMED, expert.severity.ERROR),
    bad_sofh_length = new_expert("bad_sofh_length", "Bad SOFH message length",
                             expert.group.MALFORMED, expert.severity.ERROR),
    md_count = new_expert("md_count", "Fewer messages than the header's count",
                      expert.group.MALFORMED, expert.severity.ERROR),
    md_msg_length = new_expert("md_msg_length", "Message length prefix disagrees with the message",
                           expert.group.MALFORMED, expert.severity.ERROR),
    trailing = new_expert("trailing", "Trailing bytes", expert.group.MALFORMED,
                      expert.severity.WARN),
}
tokex.experts = {
    E.truncated, E.bad_schema, E.bad_version, E.unknown_template, E.bad_block_length,
    E.reserved_nonzero, E.bad_enum, E.bad_encoding, E.bad_sofh_length, E.md_count,
    E.md_msg_length, E.trailing,
}

---------------------------------------------------------------------------------------------
-- Preferences and port registration

tokex.prefs.order_udp_port = Pref.uint("Order entry UDP port", PORT_ORDER_UDP,
                                       "UDP port of order entry (0: none)")
tokex.prefs.order_tcp_port = Pref.uint("Order entry TCP port", PORT_ORDER_TCP,
                                       "TCP port of order entry with SOFH framing (0: none)")
tokex.prefs.md_port = Pref.uint("Market data UDP port", PORT_MD,
                                "UDP port of the market data stream (0: none)")
tokex.prefs.md_req_port = Pref.uint("Market data re-request UDP port", PORT_MD_REQ,
                                    "UDP port of market data gap re-requests (0: none)")

local registered = {}
local function register_ports()
    for _, r in ipairs(registered) do
        r[1]:remove(r[2], tokex)
    end
    registered = {}
    local udp, tcp = DissectorTable.get("udp.port"), DissectorTable.get("tcp.port")
    local function add(t, port)
        if port ~= 0 then
            t:add(port, tokex)
            registered[#registered + 1] = { t, port }
        end
    end
    add(udp, tokex.prefs.order_udp_port)
    add(tcp, tokex.prefs.order_tcp_port)
    add(udp, tokex.prefs.md_port)
    add(udp, tokex.prefs.md_req_port)
end
tokex.prefs_changed = register_ports

---------------------------------------------------------------------------------------------
-- Dissection

local INT64_ZERO = Int64(0)
local INT64_MIN = Int64.min()
local NS_PER_S = UInt64(1000000000)

-- 12345678 -> "1234.5678", INT64_MIN -> "null"
local function price_text(v)
    if v == INT64_MIN then
        return "null"
    end
    local neg = v < INT64_ZERO
    local a = neg and -v or v
    return string.format("%s%s.%04d", neg and "-" or "", tostring(a / 10000),
                         (a % 10000):tonumber())
end

-- ns since the epoch -> "2023-11-14 22:13:20.123456789 UTC" (nil if out of range)
local function time_text(v)
    local secs = (v / NS_PER_S):tonumber()
    local ok, d = pcall(os.date, "!%Y-%m-%d %H:%M:%S", secs)
    if not ok or type(d) ~= "string" then
        return nil
    end
    return string.format("%s.%09d UTC", d, (v % NS_PER_S):tonumber())
end

local function all_zero(r)
    for i = 0, r:len() - 1 do
        if r:range(i, 1):uint() ~= 0 then
            return false
        end
    end
    return true
end

local function add_value(tree, f, r)
    local item = tree:add_le(f.pf, r)
    if f.kind == "price" then
        local v = r:le_int64()
        item:set_text(string.format("%s: %s (%s)", f.label, price_text(v), tostring(v)))
    elseif f.kind == "time" then
        local t = time_text(r:le_uint64())
        if t then
            item:append_text(" (" .. t .. ")")
        end
    end
    if f.reserved then
        if not all_zero(r) then
            item:add_proto_expert_info(E.reserved_nonzero, f.label .. " must be zero")
        end
    elseif f.vs and f.vs[r:le_uint()] == nil then
        item:add_proto_expert_info(E.bad_enum, string.format("%s %d is not defined",
                                                             f.label, r:le_uint()))
    end
    return item
end

-- Dissects the SBE message at tvb[off, off + avail) into tree. seq: on UDP order entry,
-- { next = UInt64 } once a Sequence has been seen, to number application messages.
-- Returns the bytes the message spans (8 + blockLength) or nil when what follows cannot
-- be trusted, and a name for the Info column.
local function dissect_msg(tvb, pinfo, tree, off, avail, seq)
    if avail < HDR_LEN then
        tree:add_tvb_expert_info(E.truncated, tvb(off, avail), string.format(
            "%d byte(s) left, less than an %d-byte SBE header", avail, HDR_LEN))
        return nil, "Truncated"
    end
    local bl = tvb(off, 2):le_uint()
    local tid = tvb(off + 2, 2):le_uint()
    local sid = tvb(off + 4, 2):le_uint()
    local ver = tvb(off + 6, 2):le_uint()
    local m = BY_TID[tid]
    local span = math.min(HDR_LEN + bl, avail)

    local mt = tree:add(m and m.pf or F.unknown, tvb(off, span))
    local ht = mt:add(F.hdr, tvb(off, HDR_LEN))
    local bl_item = ht:add_le(F.block_length, tvb(off, 2))
    ht:add_le(F.template_id, tvb(off + 2, 2))
    local sid_item = ht:add_le(F.schema_id, tvb(off + 4, 2))
    local ver_item = ht:add_le(F.version, tvb(off + 6, 2))

    if sid ~= SCHEMA_ID then
        sid_item:add_proto_expert_info(E.bad_schema, string.format(
            "Schema id %d is not tokex's %d: the rest is not decoded", sid, SCHEMA_ID))
        return nil, "Bad schema"
    end
    if ver ~= SCHEMA_VERSION then
        ver_item:add_proto_expert_info(E.bad_version, string.format(
            "Version %d; this dissector knows version %d", ver, SCHEMA_VERSION))
    end
    if not m then
        mt:append_text(" " .. tid)
        mt:add_proto_expert_info(E.unknown_template, string.format(
            "Template %d is not in proto.h", tid))
        if HDR_LEN + bl > avail then
            mt:add_proto_expert_info(E.truncated, string.format(
                "blockLength %d, %d byte(s) present", bl, avail - HDR_LEN))
            return nil, "Unknown " .. tid
        end
        return HDR_LEN + bl, "Unknown " .. tid
    end
    if bl ~= m.size then
        bl_item:add_proto_expert_info(E.bad_block_length, string.format(
            "blockLength %d; %s is %d bytes", bl, m.title, m.size))
    end

    if seq and seq.next and tid >= 100 and tid < 300 then
        local it = mt:add(F.implicit_seq, seq.next)
        it:set_generated()
        seq.next = seq.next + 1
    end
    local have = math.min(bl, avail - HDR_LEN) -- block bytes present
    for _, f in ipairs(m.fields) do
        if f.off + f.size > have then
            break
        end
        add_value(mt, f, tvb(off + HDR_LEN + f.off, f.size))
    end
    if HDR_LEN + bl > avail then
        mt:add_proto_expert_info(E.truncated, string.format(
            "%s: blockLength %d, %d byte(s) present", m.title, bl, avail - HDR_LEN))
        return nil, m.title
    end
    if seq and tid == TID_SEQUENCE and have >= 8 then
        seq.next = tvb(off + HDR_LEN, 8):le_uint64()
    end
    return HDR_LEN + bl, m.title
end

local function dissect_order_udp(tvb, pinfo, tree)
    local len = tvb:len()
    local root = tree:add(tokex, tvb())
    root:append_text(", Order Entry (UDP)")
    local off, names, seq = 0, {}, {}
    while off < len do
        local n, name = dissect_msg(tvb, pinfo, root, off, len - off, seq)
        names[#names + 1] = name
        if not n then
            break
        end
        off = off + n
    end
    pinfo.cols.info = table.concat(names, ", ")
    return len
end

local function dissect_md(tvb, pinfo, tree, on_req_port)
    local len = tvb:len()
    local root = tree:add(tokex, tvb())
    root:append_text(", Market Data")
    if len < MD_HDR_LEN then
        root:add_proto_expert_info(E.truncated, string.format(
            "%d byte(s), less than the %d-byte header", len, MD_HDR_LEN))
        pinfo.cols.info = "MD truncated"
        return len
    end
    local ht = root:add(F.md, tvb(0, MD_HDR_LEN))
    ht:add(F.md_session, tvb(0, 10))
    ht:add_le(F.md_sequence, tvb(10, 8))
    local count_item = ht:add_le(F.md_count, tvb(18, 2))
    local seq = tvb(10, 8):le_uint64()
    local count = tvb(18, 2):le_uint()
    local session = tvb(0, 10):string():gsub(" +$", "")

    local what
    if count == MD_HEARTBEAT then
        what = "Heartbeat"
    elseif count == MD_END_OF_SESSION then
        what = "End of session"
    elseif on_req_port and len == MD_HDR_LEN then
        what = "Re-request" -- a bare header asking for `count` messages from `sequence`
    end
    if what then
        count_item:append_text(" (" .. what .. ")")
        ht:append_text(", " .. what)
        pinfo.cols.info = string.format("MD %s %s seq=%s count=%d", session, what,
                                        tostring(seq), count)
        if len > MD_HDR_LEN then
            root:add_tvb_expert_info(E.trailing, tvb(MD_HDR_LEN),
                                     string.format("%d byte(s) after a %s", len - MD_HDR_LEN,
                                                   what:lower()))
        end
        return len
    end

    local off, names = MD_HDR_LEN, {}
    for i = 0, count - 1 do
        if off + 2 > len then
            count_item:add_proto_expert_info(E.md_count, string.format(
                "Count %d, packet holds %d message(s)", count, i))
            break
        end
        local mlen = tvb(off, 2):le_uint()
        local span = math.min(2 + mlen, len - off)
        local mt = root:add(F.md_message, tvb(off, span))
        mt:append_text(string.format(" %d, seq %s", i + 1, tostring(seq + i)))
        local len_item = mt:add_le(F.md_msg_length, tvb(off, 2))
        mt:add(F.md_msg_seq, seq + i):set_generated()
        if 2 + mlen > len - off then
            len_item:add_proto_expert_info(E.truncated, string.format(
                "Message length %d, %d byte(s) present", mlen, len - off - 2))
        end
        local n, name = nil, "Empty"
        if span > 2 then
            n, name = dissect_msg(tvb, pinfo, mt, off + 2, span - 2, nil)
        end
        names[#names + 1] = name
        if n ~= mlen then
            len_item:add_proto_expert_info(E.md_msg_length, string.format(
                "Length prefix %d, message spans %s", mlen, n and tostring(n) or "?"))
        end
        if 2 + mlen > len - off then
            off = len
            break
        end
        off = off + 2 + mlen
    end
    if off < len then
        root:add_tvb_expert_info(E.trailing, tvb(off), string.format(
            "%d byte(s) after %d message(s)", len - off, count))
    end
    pinfo.cols.info = string.format("MD %s seq=%s count=%d: %s", session, tostring(seq), count,
                                    table.concat(names, ", "))
    return len
end

-- TCP: SOFH frames. A length outside [6 + 8, 6 + MAX_MSG_LEN] cannot be trusted to find the
-- next frame, so the rest of the segment becomes one PDU and is flagged.
local function sofh_length_ok(n)
    return n >= SOFH_LEN + HDR_LEN and n <= SOFH_LEN + MAX_MSG_LEN
end

local function sofh_pdu_len(tvb, pinfo, off)
    local n = tvb(off, 4):uint()
    if not sofh_length_ok(n) then
        return tvb:len() - off
    end
    return n
end

-- Info column for TCP: one name per SOFH frame. TCP may call this dissector more than once
-- for one segment (a reassembled frame, then the rest) and fences the column in between, so
-- a call whose column still holds what the previous call wrote appends to it.
local tcp_info, tcp_info_text

local function dissect_sofh_pdu(tvb, pinfo, tree)
    local len = tvb:len()
    local root = tree:add(tokex, tvb())
    root:append_text(", Order Entry (TCP)")
    local name
    tcp_info = tcp_info or {}
    if len < SOFH_LEN then
        root:add_proto_expert_info(E.truncated, "Less than a SOFH")
        name = "Truncated"
    else
        local st = root:add(F.sofh, tvb(0, SOFH_LEN))
        local flen = tvb(0, 4):uint()
        local enc = tvb(4, 2):uint()
        local len_item = st:add(F.sofh_length, tvb(0, 4))
        local enc_item = st:add(F.sofh_encoding, tvb(4, 2))
        if not sofh_length_ok(flen) or flen ~= len then
            len_item:add_proto_expert_info(E.bad_sofh_length, string.format(
                "Length %d outside [%d, %d]: the rest of the segment is not decoded", flen,
                SOFH_LEN + HDR_LEN, SOFH_LEN + MAX_MSG_LEN))
            name = "Bad SOFH length"
        elseif enc ~= SOFH_ENCODING then
            enc_item:add_proto_expert_info(E.bad_encoding, string.format(
                "Encoding type 0x%04x, tokex sends 0x%04x", enc, SOFH_ENCODING))
            name = "Bad SOFH encoding"
        else
            local n
            n, name = dissect_msg(tvb, pinfo, root, SOFH_LEN, len - SOFH_LEN, nil)
            if n and n ~= len - SOFH_LEN then
                len_item:add_proto_expert_info(E.bad_sofh_length, string.format(
                    "SOFH length %d, message spans %d + %d", flen, SOFH_LEN, n))
            end
        end
    end
    if #tcp_info == 0 and tostring(pinfo.cols.info) == tcp_info_text then
        pinfo.cols.info:append(", " .. name)
    elseif #tcp_info == 0 then
        pinfo.cols.info = name
    else
        pinfo.cols.info:append(", " .. name)
    end
    tcp_info[#tcp_info + 1] = name
    tcp_info_text = tostring(pinfo.cols.info)
    return len
end

function tokex.dissector(tvb, pinfo, tree)
    local len = tvb:len()
    if len == 0 then
        return 0
    end
    pinfo.cols.protocol = "TOKEX"
    if pinfo.port_type == PT_TCP then
        tcp_info = {}
        dissect_tcp_pdus(tvb, tree, SOFH_LEN, sofh_pdu_len, dissect_sofh_pdu, true)
        return len
    end
    local port = pinfo.match_uint
    if port == tokex.prefs.md_port then
        return dissect_md(tvb, pinfo, tree, false)
    elseif port == tokex.prefs.md_req_port then
        return dissect_md(tvb, pinfo, tree, true)
    end
    return dissect_order_udp(tvb, pinfo, tree)
end

register_ports()
