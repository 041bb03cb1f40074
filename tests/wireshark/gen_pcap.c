/*
 * tests/wireshark/gen_pcap.c - writes a pcap of tokex traffic and what a dissector must show.
 *
 * Role: the oracle for scripts/wireshark/tokex.lua (run by test_tshark.sh). It fills the
 * include/tokex/proto.h structs with distinctive values (high bits set, unsigned values above
 * INT64_MAX, negative, tiny and null prices), frames them the way the wire does (UDP order
 * entry, TCP behind SOFH with frames split across segments, MoldUDP64-style market data),
 * writes Ethernet/IPv4 frames, and prints, frame by frame, the value of every field the
 * dissector must show. Encoding is a memcpy of the structs after a filled struct tkx_hdr, not
 * the tokex codec, so the dissector is checked against the proto.h layout alone; the field
 * table below reads each value back at offsetof(), so a wrong offset in the Lua layout shows
 * as a wrong value.
 *
 * Usage: gen_pcap OUT.pcap EXPECTED.txt
 * EXPECTED.txt, one check per line, tab separated:
 *   F <frame> <field> <show> <display>  the k-th <field> of <frame> (k-th line of that pair)
 *                                        has PDML show=<show> ("*": present, any value) and,
 *                                        if <display> is not empty, a label containing it
 *   M <frame>                            malformed frame: fields not listed are allowed there
 *   Y <filter> <frames>                  the display filter matches exactly these frames
 *   # ...                                a comment: totals
 */
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokex/proto.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- What the dissector must show: names and value strings -------------------------- */

enum kind { K_UINT, K_PRICE, K_TIME, K_BYTES };

struct vals {
	const char *const *name; /* indexed by value; NULL = no name */
	size_t n;
};

struct fdesc {
	const char *name;
	size_t off, size;
	enum kind kind;
	const struct vals *vs;
};

struct mdesc {
	uint16_t tid;
	const char *abbr; /* tokex.<abbr>.<field> */
	size_t size;
	const struct fdesc *f;
	size_t nf;
};

#define VALS(a) { a, ARRAY_LEN(a) }

static const char *const side_n[] = { NULL, "Buy", "Sell" };
static const char *const side0_n[] = { "Both", "Buy", "Sell" };
static const char *const tif_n[] = { NULL, "GTC", "IOC", "FOK", "Post-only", "Day" };
static const char *const scope_n[] = { NULL, "Session", "Account" };
static const char *const bool_n[] = { "No", "Yes" };
static const char *const reject_n[] = {
	NULL, "Invalid price", "Invalid quantity", "Invalid side", "Invalid TIF",
	"Unknown contract", "ClOrdID reused", "Unknown order", "Post-only would cross",
	"Off tick", "Outside price band", "Above max quantity", "Book full", "Busy",
	"Wrong phase", "Halted", "Throttled", "Kill switch", "Position limit",
	"Duplicate order", "Not owner", "Storage", "Invalid scope", "Invalid account",
	"Invalid show quantity", "Invalid stop price",
};
static const char *const cancel_n[] = {
	NULL, "Client", "IOC expired", "FOK unfilled", "Self-trade prevention", "Mass cancel",
	"Disconnect", "Kill switch", "Expiry", "Operator", "Day end", "Elected stop refused",
};
static const char *const sreject_n[] = {
	NULL, "Unknown firm", "Bad credentials", "Stale timestamp", "Session in use",
	"Not negotiated", "Bad keepalive", "Not established", "Out of range", "Too many",
	"Unspecified", "Session limit",
};
static const char *const term_n[] = {
	"Finished", "Unspecified", "Keepalive timeout", "Protocol error", "Throttle",
	"Shutdown", "Sequence below expected",
};
static const char *const breject_n[] = {
	NULL, "Not established", "Wrong direction", "Invalid field", "Unsupported",
};
static const char *const phase_n[] = {
	"Defined", "Listed", "Pre-open", "Auction", "Continuous", "Break", "Halted",
	"Closed", "Settled", "Expired", "Final settled", "Delisted",
};
static const char *const template_n[] = {
	[TKX_NEGOTIATE] = "Negotiate",
	[TKX_NEGOTIATION_RESPONSE] = "NegotiationResponse",
	[TKX_NEGOTIATION_REJECT] = "NegotiationReject",
	[TKX_ESTABLISH] = "Establish",
	[TKX_ESTABLISHMENT_ACK] = "EstablishmentAck",
	[TKX_ESTABLISHMENT_REJECT] = "EstablishmentReject",
	[TKX_SEQUENCE] = "Sequence",
	[TKX_NOT_APPLIED] = "NotApplied",
	[TKX_RETRANSMIT_REQUEST] = "RetransmitRequest",
	[TKX_RETRANSMISSION] = "Retransmission",
	[TKX_RETRANSMIT_REJECT] = "RetransmitReject",
	[TKX_TERMINATE] = "Terminate",
	[TKX_DATAGRAM_AUTH] = "DatagramAuth",
	[TKX_NEW_ORDER] = "NewOrder",
	[TKX_CANCEL_ORDER] = "CancelOrder",
	[TKX_MODIFY_ORDER] = "ModifyOrder",
	[TKX_MASS_CANCEL] = "MassCancel",
	[TKX_EXEC_ACK] = "ExecAck",
	[TKX_EXEC_REJECT] = "ExecReject",
	[TKX_FILL] = "Fill",
	[TKX_CANCELLED] = "Cancelled",
	[TKX_MODIFY_ACK] = "ModifyAck",
	[TKX_MASS_CANCEL_ACK] = "MassCancelAck",
	[TKX_BUSINESS_REJECT] = "BusinessReject",
	[TKX_STOP_ELECTED] = "StopElected",
	[TKX_MD_TOP_OF_BOOK] = "TopOfBook",
	[TKX_MD_TRADE] = "Trade",
	[TKX_MD_CONTRACT_STATUS] = "ContractStatus",
	[TKX_MD_SNAPSHOT] = "Snapshot",
	[TKX_MD_GAP_REJECT] = "GapReject",
	[TKX_MD_INSTRUMENT] = "InstrumentDefinition",
	[TKX_MD_ORDER] = "OrderBook",
	[TKX_MD_DEPTH] = "Depth",
};

static const char *const aggr_n[] = { "None (uncross)", "Buy", "Sell" };
static const struct vals vs_aggr = VALS(aggr_n);
static const char *const settle_n[] = { NULL, "Cash, index mean" };
static const struct vals vs_settle = VALS(settle_n);
static const char *const action_n[] = { NULL, "Add", "Modify", "Delete", "Execute", "Snapshot" };
static const struct vals vs_action = VALS(action_n);
static const struct vals vs_side = VALS(side_n), vs_side0 = VALS(side0_n), vs_tif = VALS(tif_n),
			 vs_scope = VALS(scope_n), vs_bool = VALS(bool_n), vs_reject = VALS(reject_n),
			 vs_cancel = VALS(cancel_n), vs_sreject = VALS(sreject_n), vs_term = VALS(term_n),
			 vs_breject = VALS(breject_n), vs_phase = VALS(phase_n),
			 vs_template = VALS(template_n);

#define FLD(st, f, k, vs) { #f, offsetof(struct st, f), sizeof(((struct st *)0)->f), k, vs }
#define U(st, f) FLD(st, f, K_UINT, NULL)
#define E(st, f, vs) FLD(st, f, K_UINT, &(vs))
#define P(st, f) FLD(st, f, K_PRICE, NULL)
#define T(st, f) FLD(st, f, K_TIME, NULL)
#define B(st, f) FLD(st, f, K_BYTES, NULL)

static const struct fdesc f_negotiate[] = {
	U(tkx_negotiate, session_id), T(tkx_negotiate, timestamp), U(tkx_negotiate, firm_id),
	U(tkx_negotiate, reserved), B(tkx_negotiate, credentials),
};
static const struct fdesc f_negotiation_response[] = {
	U(tkx_negotiation_response, session_id), T(tkx_negotiation_response, request_timestamp),
	U(tkx_negotiation_response, firm_id), U(tkx_negotiation_response, reserved),
};
static const struct fdesc f_negotiation_reject[] = {
	U(tkx_negotiation_reject, session_id), T(tkx_negotiation_reject, request_timestamp),
	E(tkx_negotiation_reject, reason, vs_sreject), U(tkx_negotiation_reject, reserved1),
	U(tkx_negotiation_reject, reserved2),
};
static const struct fdesc f_establish[] = {
	U(tkx_establish, session_id), T(tkx_establish, timestamp), U(tkx_establish, next_seq_no),
	U(tkx_establish, keepalive_ms), E(tkx_establish, cancel_on_disconnect, vs_bool),
	B(tkx_establish, reserved), B(tkx_establish, credentials),
};
static const struct fdesc f_establishment_ack[] = {
	U(tkx_establishment_ack, session_id), T(tkx_establishment_ack, request_timestamp),
	U(tkx_establishment_ack, next_seq_no), U(tkx_establishment_ack, expected_seq_no),
	U(tkx_establishment_ack, keepalive_ms), U(tkx_establishment_ack, reserved),
};
static const struct fdesc f_establishment_reject[] = {
	U(tkx_establishment_reject, session_id), T(tkx_establishment_reject, request_timestamp),
	E(tkx_establishment_reject, reason, vs_sreject), U(tkx_establishment_reject, reserved1),
	U(tkx_establishment_reject, reserved2),
};
static const struct fdesc f_sequence[] = { U(tkx_sequence, next_seq_no) };
static const struct fdesc f_not_applied[] = {
	U(tkx_not_applied, from_seq_no), U(tkx_not_applied, count), U(tkx_not_applied, reserved),
};
static const struct fdesc f_retransmit_request[] = {
	U(tkx_retransmit_request, session_id), T(tkx_retransmit_request, timestamp),
	U(tkx_retransmit_request, from_seq_no), U(tkx_retransmit_request, count),
	U(tkx_retransmit_request, reserved),
};
static const struct fdesc f_retransmission[] = {
	U(tkx_retransmission, session_id), T(tkx_retransmission, request_timestamp),
	U(tkx_retransmission, next_seq_no), U(tkx_retransmission, count),
	U(tkx_retransmission, reserved),
};
static const struct fdesc f_retransmit_reject[] = {
	U(tkx_retransmit_reject, session_id), T(tkx_retransmit_reject, request_timestamp),
	E(tkx_retransmit_reject, reason, vs_sreject), U(tkx_retransmit_reject, reserved1),
	U(tkx_retransmit_reject, reserved2),
};
static const struct fdesc f_terminate[] = {
	U(tkx_terminate, session_id), E(tkx_terminate, reason, vs_term),
	U(tkx_terminate, reserved1), U(tkx_terminate, reserved2),
};
static const struct fdesc f_datagram_auth[] = {
	U(tkx_datagram_auth, counter), B(tkx_datagram_auth, mac),
};
static const struct fdesc f_new_order[] = {
	U(tkx_new_order, cl_ord_id), P(tkx_new_order, price), U(tkx_new_order, qty),
	U(tkx_new_order, contract_id), U(tkx_new_order, account), E(tkx_new_order, side, vs_side),
	E(tkx_new_order, tif, vs_tif), U(tkx_new_order, reserved), P(tkx_new_order, stop_price),
	U(tkx_new_order, show_qty), U(tkx_new_order, reserved2),
};
static const struct fdesc f_cancel_order[] = {
	U(tkx_cancel_order, cl_ord_id), U(tkx_cancel_order, order_id),
	U(tkx_cancel_order, contract_id), U(tkx_cancel_order, reserved),
};
static const struct fdesc f_modify_order[] = {
	U(tkx_modify_order, cl_ord_id), U(tkx_modify_order, order_id), P(tkx_modify_order, price),
	U(tkx_modify_order, qty), U(tkx_modify_order, contract_id),
};
static const struct fdesc f_mass_cancel[] = {
	U(tkx_mass_cancel, cl_ord_id), U(tkx_mass_cancel, contract_id),
	U(tkx_mass_cancel, account), E(tkx_mass_cancel, scope, vs_scope),
	E(tkx_mass_cancel, side, vs_side0), B(tkx_mass_cancel, reserved),
};
static const struct fdesc f_exec_ack[] = {
	U(tkx_exec_ack, cl_ord_id), U(tkx_exec_ack, order_id), P(tkx_exec_ack, price),
	T(tkx_exec_ack, transact_time), U(tkx_exec_ack, qty), U(tkx_exec_ack, contract_id),
	E(tkx_exec_ack, side, vs_side), E(tkx_exec_ack, tif, vs_tif), U(tkx_exec_ack, reserved1),
	U(tkx_exec_ack, reserved2),
};
static const struct fdesc f_exec_reject[] = {
	U(tkx_exec_reject, cl_ord_id), T(tkx_exec_reject, transact_time),
	U(tkx_exec_reject, order_id), U(tkx_exec_reject, contract_id),
	E(tkx_exec_reject, reason, vs_reject), E(tkx_exec_reject, ref_template_id, vs_template),
};
static const struct fdesc f_fill[] = {
	U(tkx_fill, cl_ord_id), U(tkx_fill, order_id), U(tkx_fill, trade_id), P(tkx_fill, price),
	T(tkx_fill, transact_time), U(tkx_fill, qty), U(tkx_fill, leaves_qty),
	U(tkx_fill, contract_id), E(tkx_fill, side, vs_side), E(tkx_fill, aggressor, vs_bool),
	U(tkx_fill, reserved),
};
static const struct fdesc f_cancelled[] = {
	U(tkx_cancelled, cl_ord_id), U(tkx_cancelled, order_id), T(tkx_cancelled, transact_time),
	U(tkx_cancelled, orig_cl_ord_id), U(tkx_cancelled, qty), U(tkx_cancelled, contract_id),
	E(tkx_cancelled, reason, vs_cancel), E(tkx_cancelled, side, vs_side),
	U(tkx_cancelled, reserved1), U(tkx_cancelled, reserved2),
};
static const struct fdesc f_modify_ack[] = {
	U(tkx_modify_ack, cl_ord_id), U(tkx_modify_ack, order_id), P(tkx_modify_ack, price),
	T(tkx_modify_ack, transact_time), U(tkx_modify_ack, qty), U(tkx_modify_ack, contract_id),
	E(tkx_modify_ack, side, vs_side), B(tkx_modify_ack, reserved1),
	U(tkx_modify_ack, reserved2),
};
static const struct fdesc f_mass_cancel_ack[] = {
	U(tkx_mass_cancel_ack, cl_ord_id), T(tkx_mass_cancel_ack, transact_time),
	U(tkx_mass_cancel_ack, count), U(tkx_mass_cancel_ack, contract_id),
	U(tkx_mass_cancel_ack, account), E(tkx_mass_cancel_ack, scope, vs_scope),
	E(tkx_mass_cancel_ack, side, vs_side0), U(tkx_mass_cancel_ack, reserved),
};
static const struct fdesc f_business_reject[] = {
	U(tkx_business_reject, ref_seq_no), T(tkx_business_reject, transact_time),
	E(tkx_business_reject, ref_template_id, vs_template),
	E(tkx_business_reject, reason, vs_breject), U(tkx_business_reject, reserved),
};
static const struct fdesc f_stop_elected[] = {
	U(tkx_stop_elected, cl_ord_id), U(tkx_stop_elected, order_id), P(tkx_stop_elected, price),
	T(tkx_stop_elected, transact_time), U(tkx_stop_elected, qty),
	U(tkx_stop_elected, contract_id), E(tkx_stop_elected, side, vs_side),
	B(tkx_stop_elected, reserved1), U(tkx_stop_elected, reserved2),
};
static const struct fdesc f_md_top_of_book[] = {
	T(tkx_md_top_of_book, transact_time), P(tkx_md_top_of_book, bid_price),
	P(tkx_md_top_of_book, ask_price), U(tkx_md_top_of_book, bid_qty),
	U(tkx_md_top_of_book, ask_qty), U(tkx_md_top_of_book, contract_id),
	U(tkx_md_top_of_book, reserved),
};
static const struct fdesc f_md_trade[] = {
	T(tkx_md_trade, transact_time), U(tkx_md_trade, trade_id), P(tkx_md_trade, price),
	U(tkx_md_trade, qty), U(tkx_md_trade, contract_id),
	E(tkx_md_trade, aggressor_side, vs_aggr), B(tkx_md_trade, reserved1),
	U(tkx_md_trade, reserved2),
};
static const struct fdesc f_md_contract_status[] = {
	T(tkx_md_contract_status, transact_time), U(tkx_md_contract_status, contract_id),
	E(tkx_md_contract_status, phase, vs_phase), U(tkx_md_contract_status, reserved1),
	U(tkx_md_contract_status, reserved2), P(tkx_md_contract_status, price),
};
static const struct fdesc f_md_snapshot[] = {
	T(tkx_md_snapshot, transact_time), U(tkx_md_snapshot, as_of_seq),
	P(tkx_md_snapshot, bid_price), P(tkx_md_snapshot, ask_price), U(tkx_md_snapshot, bid_qty),
	U(tkx_md_snapshot, ask_qty), P(tkx_md_snapshot, last_price), U(tkx_md_snapshot, volume),
	U(tkx_md_snapshot, contract_id), E(tkx_md_snapshot, phase, vs_phase),
	B(tkx_md_snapshot, reserved1),
};
static const struct fdesc f_md_gap_reject[] = {
	U(tkx_md_gap_reject, first_available_seq), U(tkx_md_gap_reject, requested_seq),
};
static const struct fdesc f_md_instrument[] = {
	P(tkx_md_instrument, tick), P(tkx_md_instrument, limit_lo), P(tkx_md_instrument, limit_hi),
	P(tkx_md_instrument, prev_settle), U(tkx_md_instrument, contract_id),
	U(tkx_md_instrument, max_qty), U(tkx_md_instrument, first_day),
	U(tkx_md_instrument, last_day), U(tkx_md_instrument, unit), B(tkx_md_instrument, currency),
	E(tkx_md_instrument, phase, vs_phase), E(tkx_md_instrument, settle_method, vs_settle),
	B(tkx_md_instrument, reserved), B(tkx_md_instrument, symbol),
};
static const struct fdesc f_md_order[] = {
	T(tkx_md_order, transact_time), U(tkx_md_order, order_id), P(tkx_md_order, price),
	U(tkx_md_order, priority), U(tkx_md_order, trade_id), U(tkx_md_order, qty),
	U(tkx_md_order, exec_qty), U(tkx_md_order, contract_id),
	E(tkx_md_order, action, vs_action), E(tkx_md_order, side, vs_side),
	U(tkx_md_order, reserved),
};
static const struct fdesc f_md_depth[] = {
	T(tkx_md_depth, transact_time), P(tkx_md_depth, price), U(tkx_md_depth, qty),
	U(tkx_md_depth, contract_id), U(tkx_md_depth, level), E(tkx_md_depth, side, vs_side),
	U(tkx_md_depth, flags), U(tkx_md_depth, depth), U(tkx_md_depth, reserved),
};

#define MSG(tid, name) { tid, #name, sizeof(struct tkx_##name), f_##name, ARRAY_LEN(f_##name) }
static const struct mdesc msgs[] = {
	MSG(TKX_NEGOTIATE, negotiate),
	MSG(TKX_NEGOTIATION_RESPONSE, negotiation_response),
	MSG(TKX_NEGOTIATION_REJECT, negotiation_reject),
	MSG(TKX_ESTABLISH, establish),
	MSG(TKX_ESTABLISHMENT_ACK, establishment_ack),
	MSG(TKX_ESTABLISHMENT_REJECT, establishment_reject),
	MSG(TKX_SEQUENCE, sequence),
	MSG(TKX_NOT_APPLIED, not_applied),
	MSG(TKX_RETRANSMIT_REQUEST, retransmit_request),
	MSG(TKX_RETRANSMISSION, retransmission),
	MSG(TKX_RETRANSMIT_REJECT, retransmit_reject),
	MSG(TKX_TERMINATE, terminate),
	MSG(TKX_DATAGRAM_AUTH, datagram_auth),
	MSG(TKX_NEW_ORDER, new_order),
	MSG(TKX_CANCEL_ORDER, cancel_order),
	MSG(TKX_MODIFY_ORDER, modify_order),
	MSG(TKX_MASS_CANCEL, mass_cancel),
	MSG(TKX_EXEC_ACK, exec_ack),
	MSG(TKX_EXEC_REJECT, exec_reject),
	MSG(TKX_FILL, fill),
	MSG(TKX_CANCELLED, cancelled),
	MSG(TKX_MODIFY_ACK, modify_ack),
	MSG(TKX_MASS_CANCEL_ACK, mass_cancel_ack),
	MSG(TKX_BUSINESS_REJECT, business_reject),
	MSG(TKX_STOP_ELECTED, stop_elected),
	MSG(TKX_MD_TOP_OF_BOOK, md_top_of_book),
	MSG(TKX_MD_TRADE, md_trade),
	MSG(TKX_MD_CONTRACT_STATUS, md_contract_status),
	MSG(TKX_MD_SNAPSHOT, md_snapshot),
	MSG(TKX_MD_GAP_REJECT, md_gap_reject),
	MSG(TKX_MD_INSTRUMENT, md_instrument),
	MSG(TKX_MD_ORDER, md_order),
	MSG(TKX_MD_DEPTH, md_depth),
};

static const struct mdesc *find_msg(uint16_t tid)
{
	for (size_t i = 0; i < ARRAY_LEN(msgs); i++)
		if (msgs[i].tid == tid)
			return &msgs[i];
	fprintf(stderr, "gen_pcap: no descriptor for template %u\n", tid);
	exit(1);
}

/* ---- The messages: distinctive values, one or more of every template ----------------- */

#define SESSION 0x0123456789ABCDEFull /* every byte different */
#define T0 1700000000123456789ull     /* 2023-11-14 22:13:20.123456789 UTC */

static const struct tkx_negotiate m_negotiate = {
	.session_id = SESSION, .timestamp = T0, .firm_id = 3000000001u,
	.credentials = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa,
			 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5,
			 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf },
};
static const struct tkx_negotiation_response m_negotiation_response = {
	.session_id = SESSION, .request_timestamp = T0, .firm_id = 3000000001u,
};
static const struct tkx_negotiation_reject m_negotiation_reject = {
	.session_id = SESSION + 1, .request_timestamp = T0 + 100000000,
	.reason = TKX_SREJ_BAD_CREDENTIALS,
};
static const struct tkx_establish m_establish = {
	.session_id = SESSION, .timestamp = T0 + 1000000001, .next_seq_no = 4294967297ull,
	.keepalive_ms = 1500, .cancel_on_disconnect = 1,
	.credentials = { 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca,
			 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5,
			 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf },
};
static const struct tkx_establishment_ack m_establishment_ack = {
	.session_id = SESSION, .request_timestamp = T0 + 1000000001, .next_seq_no = 1001,
	.expected_seq_no = 4294967297ull, .keepalive_ms = 2500,
};
static const struct tkx_establishment_reject m_establishment_reject = {
	.session_id = SESSION + 2, .request_timestamp = T0 + 1000000002,
	.reason = TKX_SREJ_SESSION_IN_USE,
};
static const struct tkx_sequence m_sequence = { .next_seq_no = 4294967297ull };
static const struct tkx_sequence m_sequence_x = { .next_seq_no = 1001 };
static const struct tkx_new_order m_new_order = {
	.cl_ord_id = 1000000000001ull, .price = 12345678, .qty = 4000000001u, .contract_id = 77,
	.account = 123456, .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC,
};
static const struct tkx_new_order m_new_order2 = {
	.cl_ord_id = 1000000000002ull, .price = -25000, .qty = 5, .contract_id = 78,
	.account = 0, .side = TKX_SIDE_SELL, .tif = TKX_TIF_POST, .show_qty = 3000000001u,
};
static const struct tkx_new_order m_new_order3 = {
	.cl_ord_id = 1000000000010ull, .price = 99990000, .qty = 10, .contract_id = 79,
	.account = 42, .side = TKX_SIDE_BUY, .tif = TKX_TIF_FOK, .stop_price = -99980000,
};
static const struct tkx_new_order m_new_order_day = {
	.cl_ord_id = 1000000000020ull, .price = 12345000, .qty = 100, .contract_id = 77,
	.account = 7, .side = TKX_SIDE_SELL, .tif = TKX_TIF_DAY, .stop_price = 12346000,
};
static const struct tkx_cancel_order m_cancel_order = {
	.cl_ord_id = 1000000000003ull, .order_id = 0xFEDCBA9876543210ull, .contract_id = 77,
};
static const struct tkx_modify_order m_modify_order = {
	.cl_ord_id = 1000000000004ull, .order_id = 9000000000000000017ull, .price = 12350000,
	.qty = 250, .contract_id = 3000000077u,
};
static const struct tkx_mass_cancel m_mass_cancel = {
	.cl_ord_id = 1000000000005ull, .contract_id = 0, .account = 123456,
	.scope = TKX_SCOPE_ACCOUNT, .side = 0,
};
static const struct tkx_retransmit_request m_retransmit_request = {
	.session_id = SESSION, .timestamp = T0 + 3000000003, .from_seq_no = 4294967000ull,
	.count = 297,
};
static const struct tkx_datagram_auth m_datagram_auth = {
	.counter = 18446744073709551000ull, /* above INT64_MAX */
	.mac = { 0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67 },
};
static const struct tkx_terminate m_terminate = {
	.session_id = SESSION, .reason = TKX_TERM_KEEPALIVE_TIMEOUT,
};
static const struct tkx_not_applied m_not_applied = { .from_seq_no = 4294967300ull, .count = 7 };
static const struct tkx_retransmission m_retransmission = {
	.session_id = SESSION, .request_timestamp = T0 + 3000000003, .next_seq_no = 1002,
	.count = 3,
};
static const struct tkx_retransmit_reject m_retransmit_reject = {
	.session_id = SESSION + 3, .request_timestamp = T0 + 3000000004,
	.reason = TKX_SREJ_OUT_OF_RANGE,
};
static const struct tkx_exec_ack m_exec_ack = {
	.cl_ord_id = 1000000000010ull, .order_id = 9000000000000000001ull, .price = 99990000,
	.transact_time = T0 + 5000000005, .qty = 10, .contract_id = 79, .side = TKX_SIDE_BUY,
	.tif = TKX_TIF_FOK,
};
static const struct tkx_fill m_fill = {
	.cl_ord_id = 1000000000010ull, .order_id = 9000000000000000001ull,
	.trade_id = 7000000000000000003ull, .price = 99980000, .transact_time = T0 + 5000000006,
	.qty = 4, .leaves_qty = 6, .contract_id = 79, .side = TKX_SIDE_BUY, .aggressor = 1,
};
static const struct tkx_cancelled m_cancelled = {
	.cl_ord_id = 1000000000011ull, .order_id = 9000000000000000001ull,
	.transact_time = T0 + 5000000007, .orig_cl_ord_id = 1000000000010ull, .qty = 6,
	.contract_id = 79, .reason = TKX_CXL_STP, .side = TKX_SIDE_BUY,
};
static const struct tkx_modify_ack m_modify_ack = {
	.cl_ord_id = 1000000000012ull, .order_id = 9000000000000000002ull, .price = 12340000,
	.transact_time = T0 + 5000000008, .qty = 300, .contract_id = 77, .side = TKX_SIDE_SELL,
};
static const struct tkx_mass_cancel_ack m_mass_cancel_ack = {
	.cl_ord_id = 1000000000013ull, .transact_time = T0 + 5000000009, .count = 42,
	.contract_id = 77, .account = 123456, .scope = TKX_SCOPE_SESSION, .side = TKX_SIDE_SELL,
};
static const struct tkx_exec_reject m_exec_reject = {
	.cl_ord_id = 1000000000014ull, .transact_time = T0 + 5000000010,
	.order_id = 9000000000000000003ull, .contract_id = 80, .reason = TKX_REJ_PRICE_BAND,
	.ref_template_id = TKX_MODIFY_ORDER,
};
static const struct tkx_business_reject m_business_reject = {
	.ref_seq_no = 4294967301ull, .transact_time = T0 + 5000000011,
	.ref_template_id = TKX_NEW_ORDER, .reason = TKX_BREJ_WRONG_DIRECTION,
};
static const struct tkx_stop_elected m_stop_elected = {
	.cl_ord_id = 1000000000020ull, .order_id = 9000000000000000004ull, .price = 12345000,
	.transact_time = T0 + 5000000012, .qty = 4000000002u, .contract_id = 77,
	.side = TKX_SIDE_SELL,
};
static const struct tkx_cancelled m_cancelled_day = {
	.cl_ord_id = 1000000000020ull, .order_id = 9000000000000000004ull,
	.transact_time = T0 + 5000000013, .orig_cl_ord_id = 1000000000020ull, .qty = 100,
	.contract_id = 77, .reason = TKX_CXL_DAY_END, .side = TKX_SIDE_SELL,
};
static const struct tkx_md_top_of_book m_top_of_book = {
	.transact_time = T0 + 6000000001, .bid_price = 12340000, .ask_price = TKX_NULL_PRICE,
	.bid_qty = 4294967297ull, .ask_qty = 0, .contract_id = 77,
};
static const struct tkx_md_top_of_book m_top_of_book2 = {
	.transact_time = T0 + 6000000005, .bid_price = TKX_NULL_PRICE, .ask_price = -1,
	.bid_qty = 0, .ask_qty = 1, .contract_id = 82,
};
static const struct tkx_md_trade m_trade = {
	.transact_time = T0 + 6000000002, .trade_id = 7000000000000000004ull, .price = 5,
	.qty = 3000000000u, .contract_id = 81, .aggressor_side = TKX_SIDE_SELL,
};
static const struct tkx_md_contract_status m_contract_status = {
	.transact_time = T0 + 6000000003, .contract_id = 77, .phase = TKX_PHASE_SETTLED,
	.price = 12345000,
};
static const struct tkx_md_snapshot m_snapshot = {
	.transact_time = T0 + 6000000004, .as_of_seq = 1003, .bid_price = 12340000,
	.ask_price = 12350000, .bid_qty = 11, .ask_qty = 12, .last_price = 12345678,
	.volume = 0xFEDCBA9876543210ull, .contract_id = 77, .phase = TKX_PHASE_CONTINUOUS,
};
static const struct tkx_md_gap_reject m_gap_reject = {
	.first_available_seq = 950, .requested_seq = 900,
};
static const struct tkx_md_instrument m_instrument = {
	.tick = 100, .limit_lo = 11356000, .limit_hi = 13332000, .prev_settle = 12344000,
	.contract_id = 77, .max_qty = 1000, .first_day = 20260105, .last_day = 20260130,
	.unit = 1000000, .currency = {'C', 'N', 'Y'}, .phase = TKX_PHASE_CONTINUOUS,
	.settle_method = TKX_SETTLE_CASH_INDEX,
	.symbol = {'T', 'K', 'N', '2', '6', '0', '1', ' ', ' ', ' ', ' ', ' '},
};
static const struct tkx_md_order m_order = {
	.transact_time = T0 + 6000000006, .order_id = 9000000000000000005ull, .price = 12350000,
	.priority = 4000000001ull, .trade_id = 7000000000000000005ull, .qty = 7, .exec_qty = 3,
	.contract_id = 77, .action = TKX_ACT_EXECUTE, .side = TKX_SIDE_SELL,
};
static const struct tkx_md_depth m_depth = {
	.transact_time = T0 + 6000000007, .price = 12340000, .qty = 4294967298ull,
	.contract_id = 77, .level = 2, .side = TKX_SIDE_BUY, .flags = TKX_DEPTH_FLAG_SNAPSHOT,
	.depth = 10,
};

/* ---- Expected values ------------------------------------------------------------------ */

struct gen {
	pcap_t *pd;
	pcap_dumper_t *dump;
	FILE *ex;
	unsigned frame;     /* number of the last frame written (tshark counts from 1) */
	uint16_t ip_id;
	unsigned n_value;   /* value checks written */
	unsigned n_display; /* label checks written */
	unsigned n_present; /* presence-only checks written */
	uint8_t seen[TKX_MD_DEPTH + 1]; /* templates written, to prove each one is */
};

static void ex(struct gen *g, const char *field, const char *show, const char *disp)
{
	fprintf(g->ex, "F\t%u\t%s\t%s\t%s\n", g->frame, field, show, disp);
	if (strcmp(show, "*") == 0)
		g->n_present++;
	else
		g->n_value++;
	if (disp[0] != '\0')
		g->n_display++;
}

static void exu(struct gen *g, const char *field, uint64_t v, const char *disp)
{
	char s[32];
	snprintf(s, sizeof(s), "%" PRIu64, v);
	ex(g, field, s, disp);
}

static void price_text(int64_t v, char *buf, size_t n)
{
	uint64_t a;
	if (v == TKX_NULL_PRICE) {
		snprintf(buf, n, "null");
		return;
	}
	a = v < 0 ? -(uint64_t)v : (uint64_t)v;
	snprintf(buf, n, "%s%" PRIu64 ".%04" PRIu64, v < 0 ? "-" : "", a / 10000, a % 10000);
}

static void time_text(uint64_t ns, char *buf, size_t n)
{
	time_t secs = (time_t)(ns / 1000000000u);
	struct tm tm;
	char d[32];
	if (gmtime_r(&secs, &tm) == NULL || strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S", &tm) == 0) {
		fprintf(stderr, "gen_pcap: cannot format time %" PRIu64 "\n", ns);
		exit(1);
	}
	snprintf(buf, n, "%s.%09" PRIu64 " UTC", d, ns % 1000000000u);
}

static const char *vs_name(const struct vals *vs, uint64_t v)
{
	if (v >= vs->n || vs->name[v] == NULL) {
		fprintf(stderr, "gen_pcap: value %" PRIu64 " has no name\n", v);
		exit(1);
	}
	return vs->name[v];
}

static uint64_t get_uint(const uint8_t *p, size_t size)
{
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	switch (size) {
	case 1: memcpy(&u8, p, 1); return u8;
	case 2: memcpy(&u16, p, 2); return u16;
	case 4: memcpy(&u32, p, 4); return u32;
	case 8: memcpy(&u64, p, 8); return u64;
	}
	fprintf(stderr, "gen_pcap: no integer of %zu bytes\n", size);
	exit(1);
}

/* The checks for one field, read back from the struct at its offsetof(). */
static void ex_field(struct gen *g, const char *abbr, const struct fdesc *f, const uint8_t *blk)
{
	char name[96], show[160], disp[200], txt[64];
	const uint8_t *p = blk + f->off;
	uint64_t u;
	int64_t s;

	snprintf(name, sizeof(name), "tokex.%s.%s", abbr, f->name);
	disp[0] = '\0';
	switch (f->kind) {
	case K_UINT:
		u = get_uint(p, f->size);
		snprintf(show, sizeof(show), "%" PRIu64, u);
		if (f->vs)
			snprintf(disp, sizeof(disp), ": %s (%" PRIu64 ")", vs_name(f->vs, u), u);
		break;
	case K_PRICE:
		memcpy(&s, p, 8);
		price_text(s, txt, sizeof(txt));
		snprintf(show, sizeof(show), "%" PRId64, s);
		snprintf(disp, sizeof(disp), ": %s (%" PRId64 ")", txt, s);
		break;
	case K_TIME:
		memcpy(&u, p, 8);
		time_text(u, txt, sizeof(txt));
		snprintf(show, sizeof(show), "%" PRIu64, u);
		snprintf(disp, sizeof(disp), ": %" PRIu64 " (%s)", u, txt);
		break;
	case K_BYTES:
		/* PDML shows bytes as colon-separated lower-case hex */
		show[0] = '\0';
		for (size_t i = 0, o = 0; i < f->size && o < sizeof(show); i++)
			o += (size_t)snprintf(show + o, sizeof(show) - o, "%s%02x", i ? ":" : "",
					      p[i]);
		break;
	}
	ex(g, name, show, disp);
}

/* A message as the dissector shows it: its node, the SBE header, every field. */
static void ex_msg(struct gen *g, const struct mdesc *m, const uint8_t *blk)
{
	char name[64], disp[64];
	snprintf(name, sizeof(name), "tokex.%s", m->abbr);
	ex(g, name, "*", "");
	ex(g, "tokex.hdr", "*", "");
	exu(g, "tokex.hdr.block_length", m->size, "");
	snprintf(disp, sizeof(disp), ": %s (%u)", vs_name(&vs_template, m->tid), m->tid);
	exu(g, "tokex.hdr.template_id", m->tid, disp);
	exu(g, "tokex.hdr.schema_id", TKX_SCHEMA_ID, "");
	exu(g, "tokex.hdr.version", TKX_SCHEMA_VERSION, "");
	for (size_t i = 0; i < m->nf; i++)
		ex_field(g, m->abbr, &m->f[i], blk);
	g->seen[m->tid] = 1;
}

/* ---- Framing: a byte stream of messages, sent as one or more frames ------------------- */

enum framing { W_UDP, W_TCP, W_MD };

struct pend {
	size_t end; /* stream offset just past the message */
	uint16_t tid;
	uint8_t block[TKX_MAX_MSG_LEN];
	int has_seq; /* UDP: implicit sequence of an application message */
	uint64_t seq;
	uint16_t md_len; /* W_MD: the length prefix */
};

struct wire {
	enum framing fr;
	uint8_t b[2048];
	size_t n, sent;
	struct pend p[16];
	size_t np, next; /* pending messages; next: first not yet expected */
	int has_seq;     /* W_UDP: a Sequence came first: app messages are numbered */
	uint64_t seq;
	int md_hdr_done; /* W_MD: header expected already */
	char md_session[TKX_MD_SESSION_LEN + 1];
	uint64_t md_seq;
	uint16_t md_count;
	size_t md_msgs;
	const char *md_count_disp;
};

static void put(struct wire *w, const void *p, size_t n)
{
	if (w->n + n > sizeof(w->b)) {
		fprintf(stderr, "gen_pcap: wire buffer full\n");
		exit(1);
	}
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void put_be(struct wire *w, uint32_t v, size_t n)
{
	uint8_t b[4];
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	put(w, b, n);
}

static void wire_init(struct wire *w, enum framing fr)
{
	memset(w, 0, sizeof(*w));
	w->fr = fr;
}

/* Appends one message (framed for w) as the encoder would: header, then the struct. */
static void wire_msg(struct wire *w, uint16_t tid, const void *block)
{
	const struct mdesc *m = find_msg(tid);
	struct tkx_hdr h = { .block_length = (uint16_t)m->size, .template_id = tid,
			     .schema_id = TKX_SCHEMA_ID, .version = TKX_SCHEMA_VERSION };
	struct pend *p;
	uint16_t mlen = (uint16_t)(TKX_HDR_LEN + m->size);

	if (w->np == ARRAY_LEN(w->p)) {
		fprintf(stderr, "gen_pcap: too many messages in one stream\n");
		exit(1);
	}
	p = &w->p[w->np++];
	memset(p, 0, sizeof(*p));
	if (w->fr == W_TCP) {
		put_be(w, TKX_SOFH_LEN + mlen, 4);
		put_be(w, TKX_SOFH_ENCODING, 2);
	} else if (w->fr == W_MD) {
		put(w, &mlen, 2);
		p->md_len = mlen;
		p->seq = w->md_seq + w->md_msgs++;
	} else if (tid == TKX_SEQUENCE) {
		memcpy(&w->seq, block, 8);
		w->has_seq = 1;
	} else if (w->has_seq && tid >= TKX_NEW_ORDER && tid < TKX_MD_TOP_OF_BOOK) {
		p->has_seq = 1;
		p->seq = w->seq++;
	}
	put(w, &h, sizeof(h));
	put(w, block, m->size);
	p->end = w->n;
	p->tid = tid;
	memcpy(p->block, block, m->size);
}

static void md_begin(struct wire *w, const char *session, uint64_t seq, uint16_t count,
		     const char *count_disp)
{
	struct tkx_md_hdr h;
	memset(&h, ' ', sizeof(h.session));
	memcpy(h.session, session, strlen(session));
	h.sequence = seq;
	h.count = count;
	put(w, &h, sizeof(h));
	snprintf(w->md_session, sizeof(w->md_session), "%s", session);
	w->md_seq = seq;
	w->md_count = count;
	w->md_count_disp = count_disp;
}

/* Expectations for everything that completes within the first `upto` stream bytes: that is
 * the frame in which tshark's single pass shows it (a reassembled TCP frame shows in the
 * segment that completes it). */
static void ex_upto(struct gen *g, struct wire *w, size_t upto)
{
	if (w->fr == W_MD && !w->md_hdr_done) {
		ex(g, "tokex.md", "*", "");
		ex(g, "tokex.md.session", w->md_session, "");
		exu(g, "tokex.md.sequence", w->md_seq, "");
		exu(g, "tokex.md.count", w->md_count, w->md_count_disp ? w->md_count_disp : "");
		w->md_hdr_done = 1;
	}
	for (; w->next < w->np && w->p[w->next].end <= upto; w->next++) {
		const struct pend *p = &w->p[w->next];
		const struct mdesc *m = find_msg(p->tid);
		if (w->fr == W_TCP) {
			ex(g, "tokex.sofh", "*", "");
			exu(g, "tokex.sofh.length", TKX_SOFH_LEN + TKX_HDR_LEN + m->size, "");
			ex(g, "tokex.sofh.encoding", "0xeb50", ": SBE 1.0 little-endian (0xeb50)");
		} else if (w->fr == W_MD) {
			ex(g, "tokex.md.message", "*", "");
			exu(g, "tokex.md.msg_length", p->md_len, "");
			exu(g, "tokex.md.msg_seq", p->seq, "");
		}
		if (p->has_seq)
			exu(g, "tokex.implicit_seq_no", p->seq, "");
		ex_msg(g, m, p->block);
	}
}

/* ---- Ethernet / IPv4 / UDP / TCP ----------------------------------------------------- */

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))
#define EXCH_IP IP(10, 0, 0, 1)
#define CLIENT_IP IP(10, 0, 0, 2)
#define RECOVERY_IP IP(10, 0, 0, 3)
#define MD_GROUP IP(239, 1, 1, 1)
#define CLIENT_UDP_PORT 40001
#define CLIENT_TCP_PORT 40002
#define RECOVERY_PORT 40003
#define BAD_TCP_PORT 40004

static void be16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
	be16(p, v >> 16);
	be16(p + 2, v);
}

static uint32_t csum_add(uint32_t s, const uint8_t *p, size_t n)
{
	size_t i;
	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void mac_of(uint8_t *mac, uint32_t ip)
{
	if ((ip >> 28) == 0xe) { /* IPv4 multicast: 01:00:5e + low 23 bits */
		mac[0] = 0x01, mac[1] = 0x00, mac[2] = 0x5e;
		mac[3] = (uint8_t)((ip >> 16) & 0x7f), mac[4] = (uint8_t)(ip >> 8);
		mac[5] = (uint8_t)ip;
	} else {
		mac[0] = 0x02, mac[1] = mac[2] = mac[3] = mac[4] = 0;
		mac[5] = (uint8_t)ip;
	}
}

/* Writes one Ethernet/IPv4 frame around an L4 header+payload whose checksum is still 0 at
 * csum_off (fills it in with the pseudo-header). */
static void emit(struct gen *g, uint32_t sip, uint32_t dip, uint8_t proto, uint8_t *l4,
		 size_t l4len, size_t csum_off)
{
	uint8_t f[14 + 20 + 1600];
	uint8_t ph[12];
	struct pcap_pkthdr h;
	uint16_t c;

	if (l4len > sizeof(f) - 34) {
		fprintf(stderr, "gen_pcap: frame too long\n");
		exit(1);
	}
	be32(ph, sip), be32(ph + 4, dip), ph[8] = 0, ph[9] = proto, be16(ph + 10, (uint32_t)l4len);
	c = csum_fold(csum_add(csum_add(0, ph, 12), l4, l4len));
	if (proto == 17 && c == 0)
		c = 0xffff;
	be16(l4 + csum_off, c);

	mac_of(f, dip);
	mac_of(f + 6, sip);
	be16(f + 12, 0x0800);
	f[14] = 0x45, f[15] = 0;
	be16(f + 16, (uint32_t)(20 + l4len));
	be16(f + 18, ++g->ip_id);
	be16(f + 20, 0x4000); /* DF */
	f[22] = 64, f[23] = proto;
	be16(f + 24, 0);
	be32(f + 26, sip), be32(f + 30, dip);
	be16(f + 24, csum_fold(csum_add(0, f + 14, 20)));
	memcpy(f + 34, l4, l4len);

	g->frame++;
	memset(&h, 0, sizeof(h));
	h.ts.tv_sec = 1700000000 + g->frame / 1000;
	h.ts.tv_usec = (g->frame % 1000) * 1000;
	h.caplen = h.len = (bpf_u_int32)(34 + l4len);
	pcap_dump((u_char *)g->dump, &h, f);
}

static void udp_bytes(struct gen *g, uint32_t sip, uint16_t sport, uint32_t dip, uint16_t dport,
		      const uint8_t *data, size_t n)
{
	uint8_t l4[8 + TKX_MAX_DGRAM];
	if (n > TKX_MAX_DGRAM) {
		fprintf(stderr, "gen_pcap: datagram above TKX_MAX_DGRAM\n");
		exit(1);
	}
	be16(l4, sport), be16(l4 + 2, dport), be16(l4 + 4, (uint32_t)(8 + n)), be16(l4 + 6, 0);
	memcpy(l4 + 8, data, n);
	emit(g, sip, dip, 17, l4, 8 + n, 6);
}

/* One datagram carrying all of w; expectations for it. */
static void udp_send(struct gen *g, struct wire *w, uint32_t sip, uint16_t sport, uint32_t dip,
		     uint16_t dport)
{
	udp_bytes(g, sip, sport, dip, dport, w->b, w->n);
	ex_upto(g, w, w->n);
}

struct tcp_conn {
	uint32_t cli_ip, srv_ip;
	uint16_t cli_port, srv_port;
	uint32_t cli_seq, srv_seq;
};

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_PSH 0x08
#define TH_ACK 0x10

static void tcp_seg(struct gen *g, struct tcp_conn *c, int from_srv, uint8_t flags,
		    const uint8_t *data, size_t n)
{
	uint8_t l4[20 + 1500];
	uint32_t *seq = from_srv ? &c->srv_seq : &c->cli_seq;
	uint32_t ack = from_srv ? c->cli_seq : c->srv_seq;

	be16(l4, from_srv ? c->srv_port : c->cli_port);
	be16(l4 + 2, from_srv ? c->cli_port : c->srv_port);
	be32(l4 + 4, *seq);
	be32(l4 + 8, (flags & TH_ACK) ? ack : 0);
	l4[12] = 5 << 4, l4[13] = flags;
	be16(l4 + 14, 65535), be16(l4 + 16, 0), be16(l4 + 18, 0);
	if (n)
		memcpy(l4 + 20, data, n);
	emit(g, from_srv ? c->srv_ip : c->cli_ip, from_srv ? c->cli_ip : c->srv_ip, 6, l4, 20 + n,
	     16);
	*seq += (uint32_t)n + ((flags & (TH_SYN | TH_FIN)) ? 1 : 0);
}

/* The next `n` bytes of w as one segment, and the expectations it completes. */
static void tcp_send(struct gen *g, struct tcp_conn *c, int from_srv, struct wire *w, size_t n)
{
	if (w->sent + n > w->n) {
		fprintf(stderr, "gen_pcap: segment past the end of the stream\n");
		exit(1);
	}
	tcp_seg(g, c, from_srv, TH_ACK | TH_PSH, w->b + w->sent, n);
	w->sent += n;
	ex_upto(g, w, w->sent);
}

/* ---- The capture --------------------------------------------------------------------- */

static void malformed(struct gen *g, const char *expert)
{
	fprintf(g->ex, "M\t%u\n", g->frame);
	ex(g, expert, "*", "");
}

static void order_entry_udp(struct gen *g)
{
	struct wire w;
#define C2X(tid, m) wire_init(&w, W_UDP), wire_msg(&w, tid, &m), \
		udp_send(g, &w, CLIENT_IP, CLIENT_UDP_PORT, EXCH_IP, TKX_PORT_ORDER_UDP)
#define X2C(tid, m) wire_init(&w, W_UDP), wire_msg(&w, tid, &m), \
		udp_send(g, &w, EXCH_IP, TKX_PORT_ORDER_UDP, CLIENT_IP, CLIENT_UDP_PORT)
	C2X(TKX_NEGOTIATE, m_negotiate);
	X2C(TKX_NEGOTIATION_RESPONSE, m_negotiation_response);
	X2C(TKX_NEGOTIATION_REJECT, m_negotiation_reject);
	C2X(TKX_ESTABLISH, m_establish);
	X2C(TKX_ESTABLISHMENT_ACK, m_establishment_ack);
	X2C(TKX_ESTABLISHMENT_REJECT, m_establishment_reject);
#undef C2X
#undef X2C

	/* several messages in one datagram, application ones numbered from the Sequence */
	wire_init(&w, W_UDP);
	wire_msg(&w, TKX_SEQUENCE, &m_sequence);
	wire_msg(&w, TKX_NEW_ORDER, &m_new_order);
	wire_msg(&w, TKX_NEW_ORDER, &m_new_order2);
	wire_msg(&w, TKX_CANCEL_ORDER, &m_cancel_order);
	wire_msg(&w, TKX_MODIFY_ORDER, &m_modify_order);
	wire_msg(&w, TKX_MASS_CANCEL, &m_mass_cancel);
	wire_msg(&w, TKX_NEW_ORDER, &m_new_order_day);
	udp_send(g, &w, CLIENT_IP, CLIENT_UDP_PORT, EXCH_IP, TKX_PORT_ORDER_UDP);
	fprintf(g->ex, "Y\ttokex.new_order.price == -25000\t%u\n", g->frame);
	fprintf(g->ex, "Y\ttokex.new_order.show_qty == 3000000001\t%u\n", g->frame);

	wire_init(&w, W_UDP);
	wire_msg(&w, TKX_RETRANSMIT_REQUEST, &m_retransmit_request);
	wire_msg(&w, TKX_TERMINATE, &m_terminate);
	udp_send(g, &w, CLIENT_IP, CLIENT_UDP_PORT, EXCH_IP, TKX_PORT_ORDER_UDP);

	/* a session's datagram ends with its DatagramAuth; it takes no number */
	wire_init(&w, W_UDP);
	wire_msg(&w, TKX_SEQUENCE, &m_sequence);
	wire_msg(&w, TKX_NEW_ORDER, &m_new_order);
	wire_msg(&w, TKX_DATAGRAM_AUTH, &m_datagram_auth);
	udp_send(g, &w, CLIENT_IP, CLIENT_UDP_PORT, EXCH_IP, TKX_PORT_ORDER_UDP);
	fprintf(g->ex, "Y\ttokex.datagram_auth.counter == 18446744073709551000\t%u\n", g->frame);

	wire_init(&w, W_UDP);
	wire_msg(&w, TKX_SEQUENCE, &m_sequence_x);
	wire_msg(&w, TKX_NOT_APPLIED, &m_not_applied);
	wire_msg(&w, TKX_RETRANSMISSION, &m_retransmission);
	wire_msg(&w, TKX_RETRANSMIT_REJECT, &m_retransmit_reject);
	udp_send(g, &w, EXCH_IP, TKX_PORT_ORDER_UDP, CLIENT_IP, CLIENT_UDP_PORT);
}

static void order_entry_tcp(struct gen *g)
{
	struct tcp_conn c = { CLIENT_IP, EXCH_IP, CLIENT_TCP_PORT, TKX_PORT_ORDER_TCP,
			      0x10000000u, 0xf0000000u }; /* server's wraps past 2^32 */
	struct wire cw, sw;
	size_t cut;

	tcp_seg(g, &c, 0, TH_SYN, NULL, 0);
	tcp_seg(g, &c, 1, TH_SYN | TH_ACK, NULL, 0);
	tcp_seg(g, &c, 0, TH_ACK, NULL, 0);

	wire_init(&cw, W_TCP);
	wire_msg(&cw, TKX_NEW_ORDER, &m_new_order3);
	tcp_send(g, &c, 0, &cw, cw.n);

	wire_init(&sw, W_TCP);
	wire_msg(&sw, TKX_EXEC_ACK, &m_exec_ack);
	wire_msg(&sw, TKX_FILL, &m_fill); /* two SOFH frames in one segment */
	tcp_send(g, &c, 1, &sw, sw.n);
	fprintf(g->ex, "Y\ttokex.fill.trade_id == 7000000000000000003\t%u\n", g->frame);

	wire_msg(&sw, TKX_CANCELLED, &m_cancelled);
	wire_msg(&sw, TKX_MODIFY_ACK, &m_modify_ack);
	wire_msg(&sw, TKX_MASS_CANCEL_ACK, &m_mass_cancel_ack);
	wire_msg(&sw, TKX_EXEC_REJECT, &m_exec_reject);
	wire_msg(&sw, TKX_BUSINESS_REJECT, &m_business_reject);
	wire_msg(&sw, TKX_STOP_ELECTED, &m_stop_elected);
	wire_msg(&sw, TKX_CANCELLED, &m_cancelled_day);
	tcp_send(g, &c, 1, &sw, 3); /* split inside the SOFH of Cancelled */
	cut = sw.p[3].end + 20;      /* then inside MassCancelAck's block */
	tcp_send(g, &c, 1, &sw, cut - sw.sent);
	tcp_send(g, &c, 1, &sw, sw.n - sw.sent);
}

static void market_data(struct gen *g)
{
	struct wire w;

	wire_init(&w, W_MD);
	md_begin(&w, "TOKEXMD001", 1001, 5, NULL);
	wire_msg(&w, TKX_MD_TOP_OF_BOOK, &m_top_of_book);
	wire_msg(&w, TKX_MD_TRADE, &m_trade);
	wire_msg(&w, TKX_MD_CONTRACT_STATUS, &m_contract_status);
	wire_msg(&w, TKX_MD_SNAPSHOT, &m_snapshot);
	wire_msg(&w, TKX_MD_TOP_OF_BOOK, &m_top_of_book2);
	udp_send(g, &w, EXCH_IP, TKX_PORT_MD, MD_GROUP, TKX_PORT_MD);
	fprintf(g->ex, "Y\ttokex.md.msg_seq == 1004\t%u\n", g->frame);

	wire_init(&w, W_MD); /* version 3: definitions, market by order, depth */
	md_begin(&w, "TOKEXMD001", 1006, 3, NULL);
	wire_msg(&w, TKX_MD_INSTRUMENT, &m_instrument);
	wire_msg(&w, TKX_MD_ORDER, &m_order);
	wire_msg(&w, TKX_MD_DEPTH, &m_depth);
	udp_send(g, &w, EXCH_IP, TKX_PORT_MD, MD_GROUP, TKX_PORT_MD);
	fprintf(g->ex, "Y\ttokex.md_order.priority == 4000000001\t%u\n", g->frame);

	wire_init(&w, W_MD);
	md_begin(&w, "TOKEXMD001", 1009, TKX_MD_HEARTBEAT, ": 0 (Heartbeat)");
	udp_send(g, &w, EXCH_IP, TKX_PORT_MD, MD_GROUP, TKX_PORT_MD);

	wire_init(&w, W_MD); /* re-request: a bare header */
	md_begin(&w, "TOKEXMD001", 900, 50, ": 50 (Re-request)");
	udp_send(g, &w, RECOVERY_IP, RECOVERY_PORT, EXCH_IP, TKX_PORT_MD_REQ);

	wire_init(&w, W_MD);
	md_begin(&w, "TOKEXMD001", 900, 1, NULL);
	wire_msg(&w, TKX_MD_GAP_REJECT, &m_gap_reject);
	udp_send(g, &w, EXCH_IP, TKX_PORT_MD_REQ, RECOVERY_IP, RECOVERY_PORT);

	wire_init(&w, W_MD);
	md_begin(&w, "TOKEXMD001", 1009, TKX_MD_END_OF_SESSION, ": 65535 (End of session)");
	udp_send(g, &w, EXCH_IP, TKX_PORT_MD, MD_GROUP, TKX_PORT_MD);
}

/* Raw header + block, with whatever is wrong in it. */
static void put_raw_msg(struct wire *w, uint16_t bl, uint16_t tid, uint16_t schema, uint16_t ver,
			const void *block, size_t n)
{
	struct tkx_hdr h = { .block_length = bl, .template_id = tid, .schema_id = schema,
			     .version = ver };
	put(w, &h, sizeof(h));
	put(w, block, n);
}

static void malformed_frames(struct gen *g)
{
	static const uint8_t junk[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct tkx_terminate term = m_terminate;
	struct tkx_new_order bad_side = m_new_order;
	struct tcp_conn c = { CLIENT_IP, EXCH_IP, BAD_TCP_PORT, TKX_PORT_ORDER_TCP, 1000, 2000 };
	struct wire w;
	uint16_t mlen;

#define SEND_C2X(expert) udp_send(g, &w, CLIENT_IP, CLIENT_UDP_PORT, EXCH_IP, \
				  TKX_PORT_ORDER_UDP), malformed(g, expert)

	wire_init(&w, W_UDP);
	put_raw_msg(&w, 8, TKX_SEQUENCE, TKX_SCHEMA_ID + 1, TKX_SCHEMA_VERSION, &m_sequence, 8);
	SEND_C2X("tokex.expert.bad_schema");

	wire_init(&w, W_UDP);
	put_raw_msg(&w, 8, 999, TKX_SCHEMA_ID, TKX_SCHEMA_VERSION, junk, 8);
	SEND_C2X("tokex.expert.unknown_template");

	wire_init(&w, W_UDP);
	put_raw_msg(&w, 32, TKX_NEW_ORDER, TKX_SCHEMA_ID, TKX_SCHEMA_VERSION, &m_new_order, 32);
	SEND_C2X("tokex.expert.bad_block_length");

	wire_init(&w, W_UDP); /* blockLength right, block cut short */
	put_raw_msg(&w, sizeof(struct tkx_new_order), TKX_NEW_ORDER, TKX_SCHEMA_ID,
		    TKX_SCHEMA_VERSION, &m_new_order, 10);
	SEND_C2X("tokex.expert.truncated");

	wire_init(&w, W_UDP); /* a good message, then 5 bytes: less than a header */
	put_raw_msg(&w, 8, TKX_SEQUENCE, TKX_SCHEMA_ID, TKX_SCHEMA_VERSION, &m_sequence, 8);
	put(&w, junk, 5);
	SEND_C2X("tokex.expert.truncated");

	wire_init(&w, W_UDP);
	put_raw_msg(&w, 8, TKX_SEQUENCE, TKX_SCHEMA_ID, TKX_SCHEMA_VERSION + 1, &m_sequence, 8);
	SEND_C2X("tokex.expert.bad_version");

	wire_init(&w, W_UDP); /* a version-2 NewOrder (32 bytes, before the order types) */
	put_raw_msg(&w, 32, TKX_NEW_ORDER, TKX_SCHEMA_ID, 2, &m_new_order, 32);
	SEND_C2X("tokex.expert.bad_version");

	wire_init(&w, W_UDP);
	term.reserved1 = 7;
	put_raw_msg(&w, 16, TKX_TERMINATE, TKX_SCHEMA_ID, TKX_SCHEMA_VERSION, &term, 16);
	SEND_C2X("tokex.expert.reserved_nonzero");

	wire_init(&w, W_UDP);
	bad_side.side = 9;
	put_raw_msg(&w, sizeof(bad_side), TKX_NEW_ORDER, TKX_SCHEMA_ID, TKX_SCHEMA_VERSION,
		    &bad_side, sizeof(bad_side));
	SEND_C2X("tokex.expert.bad_enum");
#undef SEND_C2X

	wire_init(&w, W_MD); /* count says 3, one message present */
	md_begin(&w, "TOKEXMD001", 2000, 3, NULL);
	mlen = TKX_HDR_LEN + 8;
	put(&w, &mlen, 2);
	put_raw_msg(&w, 8, TKX_SEQUENCE, TKX_SCHEMA_ID, TKX_SCHEMA_VERSION, &m_sequence, 8);
	udp_bytes(g, EXCH_IP, TKX_PORT_MD, MD_GROUP, TKX_PORT_MD, w.b, w.n);
	malformed(g, "tokex.expert.md_count");

	wire_init(&w, W_MD); /* length prefix 24 around a 16-byte message */
	md_begin(&w, "TOKEXMD001", 2001, 1, NULL);
	mlen = 24;
	put(&w, &mlen, 2);
	put_raw_msg(&w, 8, TKX_SEQUENCE, TKX_SCHEMA_ID, TKX_SCHEMA_VERSION, &m_sequence, 8);
	put(&w, junk, 8);
	udp_bytes(g, EXCH_IP, TKX_PORT_MD, MD_GROUP, TKX_PORT_MD, w.b, w.n);
	malformed(g, "tokex.expert.md_msg_length");

	udp_bytes(g, EXCH_IP, TKX_PORT_MD, MD_GROUP, TKX_PORT_MD, (const uint8_t *)"TOKEXMD001\1", 12);
	malformed(g, "tokex.expert.truncated");

	/* TCP, picked up mid-stream: big-endian SBE encoding type, then a SOFH length of 4 */
	wire_init(&w, W_UDP);
	put_be(&w, TKX_SOFH_LEN + TKX_HDR_LEN + 8, 4);
	put_be(&w, 0x5BE0, 2);
	put_raw_msg(&w, 8, TKX_SEQUENCE, TKX_SCHEMA_ID, TKX_SCHEMA_VERSION, &m_sequence, 8);
	tcp_seg(g, &c, 0, TH_ACK | TH_PSH, w.b, w.n);
	malformed(g, "tokex.expert.bad_encoding");

	wire_init(&w, W_UDP);
	put_be(&w, 4, 4);
	put_be(&w, TKX_SOFH_ENCODING, 2);
	put(&w, junk, 8);
	tcp_seg(g, &c, 0, TH_ACK | TH_PSH, w.b, w.n);
	malformed(g, "tokex.expert.bad_sofh_length");
}

int main(int argc, char **argv)
{
	struct gen g;
	size_t missing = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: %s OUT.pcap EXPECTED.txt\n", argv[0]);
		return 2;
	}
	memset(&g, 0, sizeof(g));
	g.pd = pcap_open_dead(DLT_EN10MB, 65535);
	if (g.pd == NULL) {
		fprintf(stderr, "gen_pcap: pcap_open_dead failed\n");
		return 1;
	}
	g.dump = pcap_dump_open(g.pd, argv[1]);
	if (g.dump == NULL) {
		fprintf(stderr, "gen_pcap: %s: %s\n", argv[1], pcap_geterr(g.pd));
		pcap_close(g.pd);
		return 1;
	}
	g.ex = fopen(argv[2], "w");
	if (g.ex == NULL) {
		perror(argv[2]);
		pcap_dump_close(g.dump);
		pcap_close(g.pd);
		return 1;
	}

	order_entry_udp(&g);
	order_entry_tcp(&g);
	market_data(&g);
	malformed_frames(&g);

	for (size_t i = 0; i < ARRAY_LEN(msgs); i++)
		if (!g.seen[msgs[i].tid]) {
			fprintf(stderr, "gen_pcap: template %u (%s) is in no frame\n", msgs[i].tid,
				msgs[i].abbr);
			missing++;
		}
	fprintf(g.ex, "# %u frames, %zu templates, %u value checks, %u label checks, "
		      "%u presence checks\n",
		g.frame, ARRAY_LEN(msgs), g.n_value, g.n_display, g.n_present);
	pcap_dump_close(g.dump);
	pcap_close(g.pd);
	if (fclose(g.ex) != 0) {
		perror(argv[2]);
		return 1;
	}
	return missing ? 1 : 0;
}
