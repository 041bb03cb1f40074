/*
 * test_schema.c - include/tokex/tokex-sbe.xml agrees with include/tokex/proto.h byte for byte.
 *
 * Role: the SBE schema is what clients in other languages generate codecs from, and the C
 * structs are what tokex copies on and off the wire; this test is the only thing that keeps
 * the two from drifting. It parses the XML with libxml2 (path given as argv[1]) and checks it
 * against tables built here with offsetof/sizeof from proto.h:
 *  1. schema attributes: namespace, package, id == TKX_SCHEMA_ID, version ==
 *     TKX_SCHEMA_VERSION, littleEndian;
 *  2. messageHeader == struct tkx_hdr (four uint16 in order, 8 bytes); mdPacketHeader ==
 *     struct tkx_md_hdr (packed, 20 bytes, unaligned sequence);
 *  3. every enum's validValues == the C enum's (names and values, in order), and its
 *     encoding is as wide as the C field that carries it;
 *  4. for each message (one cmocka test each): id == template enum, blockLength == sizeof,
 *     exactly the table's fields in the same order with the same offsets and sizes (type
 *     sizes resolved through <types>: primitives, arrays, enums, composites), no gaps;
 *  5. no message in the XML that the table does not know.
 * Mismatches are all printed before a test fails, so one run shows every discrepancy.
 *
 * The tables below must list every field of every struct: table_complete checks that each
 * table covers its struct with no gap or overlap, so a field added to proto.h and forgotten
 * here fails too.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "tokex/proto.h"

#define SBE_NS "http://fixprotocol.io/2016/sbe"
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- The C side: every field of every message ------------------------------------- */

struct field_spec {
	const char *cname; /* C field, for messages */
	const char *xname; /* XML field name (camelCase) */
	const char *xtype; /* XML type the field must use, or NULL for "any of the right size" */
	size_t off;
	size_t size;
};

#define FSIZE(s, f) sizeof(((struct s *)0)->f)
/* F: field with its XML name; FT: also pins the XML type (enums, prices, arrays). */
#define F(s, f, x) { #f, x, NULL, offsetof(struct s, f), FSIZE(s, f) }
#define FT(s, f, x, t) { #f, x, t, offsetof(struct s, f), FSIZE(s, f) }

struct msg_spec {
	const char *name;  /* sbe:message name */
	const char *cname; /* C struct */
	unsigned id;       /* enum tkx_template */
	size_t size;       /* sizeof(struct) == blockLength */
	const struct field_spec *fields;
	size_t nfields;
};

static const struct field_spec f_negotiate[] = {
	F(tkx_negotiate, session_id, "sessionId"),
	F(tkx_negotiate, timestamp, "timestamp"),
	F(tkx_negotiate, firm_id, "firmId"),
	F(tkx_negotiate, reserved, "reserved"),
	FT(tkx_negotiate, credentials, "credentials", "credentials"),
};
static const struct field_spec f_negotiation_response[] = {
	F(tkx_negotiation_response, session_id, "sessionId"),
	F(tkx_negotiation_response, request_timestamp, "requestTimestamp"),
	F(tkx_negotiation_response, firm_id, "firmId"),
	F(tkx_negotiation_response, reserved, "reserved"),
};
static const struct field_spec f_negotiation_reject[] = {
	F(tkx_negotiation_reject, session_id, "sessionId"),
	F(tkx_negotiation_reject, request_timestamp, "requestTimestamp"),
	FT(tkx_negotiation_reject, reason, "reason", "sessionRejectReason"),
	F(tkx_negotiation_reject, reserved1, "reserved1"),
	F(tkx_negotiation_reject, reserved2, "reserved2"),
};
static const struct field_spec f_establish[] = {
	F(tkx_establish, session_id, "sessionId"),
	F(tkx_establish, timestamp, "timestamp"),
	F(tkx_establish, next_seq_no, "nextSeqNo"),
	F(tkx_establish, keepalive_ms, "keepaliveMs"),
	F(tkx_establish, cancel_on_disconnect, "cancelOnDisconnect"),
	F(tkx_establish, reserved, "reserved"),
	FT(tkx_establish, credentials, "credentials", "credentials"),
};
static const struct field_spec f_establishment_ack[] = {
	F(tkx_establishment_ack, session_id, "sessionId"),
	F(tkx_establishment_ack, request_timestamp, "requestTimestamp"),
	F(tkx_establishment_ack, next_seq_no, "nextSeqNo"),
	F(tkx_establishment_ack, expected_seq_no, "expectedSeqNo"),
	F(tkx_establishment_ack, keepalive_ms, "keepaliveMs"),
	F(tkx_establishment_ack, reserved, "reserved"),
};
static const struct field_spec f_establishment_reject[] = {
	F(tkx_establishment_reject, session_id, "sessionId"),
	F(tkx_establishment_reject, request_timestamp, "requestTimestamp"),
	FT(tkx_establishment_reject, reason, "reason", "sessionRejectReason"),
	F(tkx_establishment_reject, reserved1, "reserved1"),
	F(tkx_establishment_reject, reserved2, "reserved2"),
};
static const struct field_spec f_sequence[] = {
	F(tkx_sequence, next_seq_no, "nextSeqNo"),
};
static const struct field_spec f_not_applied[] = {
	F(tkx_not_applied, from_seq_no, "fromSeqNo"),
	F(tkx_not_applied, count, "count"),
	F(tkx_not_applied, reserved, "reserved"),
};
static const struct field_spec f_retransmit_request[] = {
	F(tkx_retransmit_request, session_id, "sessionId"),
	F(tkx_retransmit_request, timestamp, "timestamp"),
	F(tkx_retransmit_request, from_seq_no, "fromSeqNo"),
	F(tkx_retransmit_request, count, "count"),
	F(tkx_retransmit_request, reserved, "reserved"),
};
static const struct field_spec f_retransmission[] = {
	F(tkx_retransmission, session_id, "sessionId"),
	F(tkx_retransmission, request_timestamp, "requestTimestamp"),
	F(tkx_retransmission, next_seq_no, "nextSeqNo"),
	F(tkx_retransmission, count, "count"),
	F(tkx_retransmission, reserved, "reserved"),
};
static const struct field_spec f_retransmit_reject[] = {
	F(tkx_retransmit_reject, session_id, "sessionId"),
	F(tkx_retransmit_reject, request_timestamp, "requestTimestamp"),
	FT(tkx_retransmit_reject, reason, "reason", "sessionRejectReason"),
	F(tkx_retransmit_reject, reserved1, "reserved1"),
	F(tkx_retransmit_reject, reserved2, "reserved2"),
};
static const struct field_spec f_terminate[] = {
	F(tkx_terminate, session_id, "sessionId"),
	FT(tkx_terminate, reason, "reason", "terminateReason"),
	F(tkx_terminate, reserved1, "reserved1"),
	F(tkx_terminate, reserved2, "reserved2"),
};
static const struct field_spec f_datagram_auth[] = {
	F(tkx_datagram_auth, counter, "counter"),
	FT(tkx_datagram_auth, mac, "mac", "datagramMac"),
};
static const struct field_spec f_new_order[] = {
	F(tkx_new_order, cl_ord_id, "clOrdId"),
	FT(tkx_new_order, price, "price", "price"),
	F(tkx_new_order, qty, "qty"),
	F(tkx_new_order, contract_id, "contractId"),
	F(tkx_new_order, account, "account"),
	FT(tkx_new_order, side, "side", "side"),
	FT(tkx_new_order, tif, "tif", "tif"),
	F(tkx_new_order, reserved, "reserved"),
	F(tkx_new_order, stop_price, "stopPrice"),
	F(tkx_new_order, show_qty, "showQty"),
	F(tkx_new_order, reserved2, "reserved2"),
};
static const struct field_spec f_cancel_order[] = {
	F(tkx_cancel_order, cl_ord_id, "clOrdId"),
	F(tkx_cancel_order, order_id, "orderId"),
	F(tkx_cancel_order, contract_id, "contractId"),
	F(tkx_cancel_order, reserved, "reserved"),
};
static const struct field_spec f_modify_order[] = {
	F(tkx_modify_order, cl_ord_id, "clOrdId"),
	F(tkx_modify_order, order_id, "orderId"),
	FT(tkx_modify_order, price, "price", "price"),
	F(tkx_modify_order, qty, "qty"),
	F(tkx_modify_order, contract_id, "contractId"),
};
static const struct field_spec f_mass_cancel[] = {
	F(tkx_mass_cancel, cl_ord_id, "clOrdId"),
	F(tkx_mass_cancel, contract_id, "contractId"),
	F(tkx_mass_cancel, account, "account"),
	FT(tkx_mass_cancel, scope, "scope", "massScope"),
	FT(tkx_mass_cancel, side, "side", "sideFilter"),
	F(tkx_mass_cancel, reserved, "reserved"),
};
static const struct field_spec f_exec_ack[] = {
	F(tkx_exec_ack, cl_ord_id, "clOrdId"),
	F(tkx_exec_ack, order_id, "orderId"),
	FT(tkx_exec_ack, price, "price", "price"),
	F(tkx_exec_ack, transact_time, "transactTime"),
	F(tkx_exec_ack, qty, "qty"),
	F(tkx_exec_ack, contract_id, "contractId"),
	FT(tkx_exec_ack, side, "side", "side"),
	FT(tkx_exec_ack, tif, "tif", "tif"),
	F(tkx_exec_ack, reserved1, "reserved1"),
	F(tkx_exec_ack, reserved2, "reserved2"),
};
static const struct field_spec f_exec_reject[] = {
	F(tkx_exec_reject, cl_ord_id, "clOrdId"),
	F(tkx_exec_reject, transact_time, "transactTime"),
	F(tkx_exec_reject, order_id, "orderId"),
	F(tkx_exec_reject, contract_id, "contractId"),
	FT(tkx_exec_reject, reason, "reason", "rejectReason"),
	FT(tkx_exec_reject, ref_template_id, "refTemplateId", "msgTemplate"),
};
static const struct field_spec f_fill[] = {
	F(tkx_fill, cl_ord_id, "clOrdId"),
	F(tkx_fill, order_id, "orderId"),
	F(tkx_fill, trade_id, "tradeId"),
	FT(tkx_fill, price, "price", "price"),
	F(tkx_fill, transact_time, "transactTime"),
	F(tkx_fill, qty, "qty"),
	F(tkx_fill, leaves_qty, "leavesQty"),
	F(tkx_fill, contract_id, "contractId"),
	FT(tkx_fill, side, "side", "side"),
	F(tkx_fill, aggressor, "aggressor"),
	F(tkx_fill, reserved, "reserved"),
};
static const struct field_spec f_cancelled[] = {
	F(tkx_cancelled, cl_ord_id, "clOrdId"),
	F(tkx_cancelled, order_id, "orderId"),
	F(tkx_cancelled, transact_time, "transactTime"),
	F(tkx_cancelled, orig_cl_ord_id, "origClOrdId"),
	F(tkx_cancelled, qty, "qty"),
	F(tkx_cancelled, contract_id, "contractId"),
	FT(tkx_cancelled, reason, "reason", "cancelReason"),
	FT(tkx_cancelled, side, "side", "side"),
	F(tkx_cancelled, reserved1, "reserved1"),
	F(tkx_cancelled, reserved2, "reserved2"),
};
static const struct field_spec f_modify_ack[] = {
	F(tkx_modify_ack, cl_ord_id, "clOrdId"),
	F(tkx_modify_ack, order_id, "orderId"),
	FT(tkx_modify_ack, price, "price", "price"),
	F(tkx_modify_ack, transact_time, "transactTime"),
	F(tkx_modify_ack, qty, "qty"),
	F(tkx_modify_ack, contract_id, "contractId"),
	FT(tkx_modify_ack, side, "side", "side"),
	F(tkx_modify_ack, reserved1, "reserved1"),
	F(tkx_modify_ack, reserved2, "reserved2"),
};
static const struct field_spec f_mass_cancel_ack[] = {
	F(tkx_mass_cancel_ack, cl_ord_id, "clOrdId"),
	F(tkx_mass_cancel_ack, transact_time, "transactTime"),
	F(tkx_mass_cancel_ack, count, "count"),
	F(tkx_mass_cancel_ack, contract_id, "contractId"),
	F(tkx_mass_cancel_ack, account, "account"),
	FT(tkx_mass_cancel_ack, scope, "scope", "massScope"),
	FT(tkx_mass_cancel_ack, side, "side", "sideFilter"),
	F(tkx_mass_cancel_ack, reserved, "reserved"),
};
static const struct field_spec f_business_reject[] = {
	F(tkx_business_reject, ref_seq_no, "refSeqNo"),
	F(tkx_business_reject, transact_time, "transactTime"),
	FT(tkx_business_reject, ref_template_id, "refTemplateId", "msgTemplate"),
	FT(tkx_business_reject, reason, "reason", "businessRejectReason"),
	F(tkx_business_reject, reserved, "reserved"),
};
static const struct field_spec f_stop_elected[] = {
	F(tkx_stop_elected, cl_ord_id, "clOrdId"),
	F(tkx_stop_elected, order_id, "orderId"),
	FT(tkx_stop_elected, price, "price", "price"),
	F(tkx_stop_elected, transact_time, "transactTime"),
	F(tkx_stop_elected, qty, "qty"),
	F(tkx_stop_elected, contract_id, "contractId"),
	FT(tkx_stop_elected, side, "side", "side"),
	F(tkx_stop_elected, reserved1, "reserved1"),
	F(tkx_stop_elected, reserved2, "reserved2"),
};
static const struct field_spec f_md_top_of_book[] = {
	F(tkx_md_top_of_book, transact_time, "transactTime"),
	FT(tkx_md_top_of_book, bid_price, "bidPrice", "priceNull"),
	FT(tkx_md_top_of_book, ask_price, "askPrice", "priceNull"),
	F(tkx_md_top_of_book, bid_qty, "bidQty"),
	F(tkx_md_top_of_book, ask_qty, "askQty"),
	F(tkx_md_top_of_book, contract_id, "contractId"),
	F(tkx_md_top_of_book, reserved, "reserved"),
};
static const struct field_spec f_md_trade[] = {
	F(tkx_md_trade, transact_time, "transactTime"),
	F(tkx_md_trade, trade_id, "tradeId"),
	FT(tkx_md_trade, price, "price", "price"),
	F(tkx_md_trade, qty, "qty"),
	F(tkx_md_trade, contract_id, "contractId"),
	FT(tkx_md_trade, aggressor_side, "aggressorSide", "aggressorSide"),
	F(tkx_md_trade, reserved1, "reserved1"),
	F(tkx_md_trade, reserved2, "reserved2"),
};
static const struct field_spec f_md_contract_status[] = {
	F(tkx_md_contract_status, transact_time, "transactTime"),
	F(tkx_md_contract_status, contract_id, "contractId"),
	FT(tkx_md_contract_status, phase, "phase", "phase"),
	F(tkx_md_contract_status, reserved1, "reserved1"),
	F(tkx_md_contract_status, reserved2, "reserved2"),
	FT(tkx_md_contract_status, price, "price", "priceNull"),
};
static const struct field_spec f_md_snapshot[] = {
	F(tkx_md_snapshot, transact_time, "transactTime"),
	F(tkx_md_snapshot, as_of_seq, "asOfSeq"),
	FT(tkx_md_snapshot, bid_price, "bidPrice", "priceNull"),
	FT(tkx_md_snapshot, ask_price, "askPrice", "priceNull"),
	F(tkx_md_snapshot, bid_qty, "bidQty"),
	F(tkx_md_snapshot, ask_qty, "askQty"),
	FT(tkx_md_snapshot, last_price, "lastPrice", "priceNull"),
	F(tkx_md_snapshot, volume, "volume"),
	F(tkx_md_snapshot, contract_id, "contractId"),
	FT(tkx_md_snapshot, phase, "phase", "phase"),
	F(tkx_md_snapshot, reserved1, "reserved1"),
};
static const struct field_spec f_md_gap_reject[] = {
	F(tkx_md_gap_reject, first_available_seq, "firstAvailableSeq"),
	F(tkx_md_gap_reject, requested_seq, "requestedSeq"),
};

#define MSG(name, id, s, arr) { name, #s, id, sizeof(struct s), arr, ARRAY_LEN(arr) }
static const struct field_spec f_md_instrument[] = {
	F(tkx_md_instrument, tick, "tick"),
	FT(tkx_md_instrument, limit_lo, "limitLo", "priceNull"),
	FT(tkx_md_instrument, limit_hi, "limitHi", "priceNull"),
	FT(tkx_md_instrument, prev_settle, "prevSettle", "priceNull"),
	F(tkx_md_instrument, contract_id, "contractId"),
	F(tkx_md_instrument, max_qty, "maxQty"),
	F(tkx_md_instrument, first_day, "firstDay"),
	F(tkx_md_instrument, last_day, "lastDay"),
	F(tkx_md_instrument, unit, "unit"),
	FT(tkx_md_instrument, currency, "currency", "currency"),
	FT(tkx_md_instrument, phase, "phase", "phase"),
	FT(tkx_md_instrument, settle_method, "settleMethod", "settleMethod"),
	F(tkx_md_instrument, reserved, "reserved"),
	FT(tkx_md_instrument, symbol, "symbol", "symbol"),
};
static const struct field_spec f_md_order[] = {
	F(tkx_md_order, transact_time, "transactTime"),
	F(tkx_md_order, order_id, "orderId"),
	FT(tkx_md_order, price, "price", "price"),
	F(tkx_md_order, priority, "priority"),
	F(tkx_md_order, trade_id, "tradeId"),
	F(tkx_md_order, qty, "qty"),
	F(tkx_md_order, exec_qty, "execQty"),
	F(tkx_md_order, contract_id, "contractId"),
	FT(tkx_md_order, action, "action", "mdAction"),
	FT(tkx_md_order, side, "side", "side"),
	F(tkx_md_order, reserved, "reserved"),
};
static const struct field_spec f_md_depth[] = {
	F(tkx_md_depth, transact_time, "transactTime"),
	FT(tkx_md_depth, price, "price", "priceNull"),
	F(tkx_md_depth, qty, "qty"),
	F(tkx_md_depth, contract_id, "contractId"),
	F(tkx_md_depth, level, "level"),
	FT(tkx_md_depth, side, "side", "side"),
	FT(tkx_md_depth, flags, "flags", "depthFlags"),
	F(tkx_md_depth, depth, "depth"),
	F(tkx_md_depth, reserved, "reserved"),
};

static const struct msg_spec msgs[] = {
	MSG("Negotiate", TKX_NEGOTIATE, tkx_negotiate, f_negotiate),
	MSG("NegotiationResponse", TKX_NEGOTIATION_RESPONSE, tkx_negotiation_response,
	    f_negotiation_response),
	MSG("NegotiationReject", TKX_NEGOTIATION_REJECT, tkx_negotiation_reject,
	    f_negotiation_reject),
	MSG("Establish", TKX_ESTABLISH, tkx_establish, f_establish),
	MSG("EstablishmentAck", TKX_ESTABLISHMENT_ACK, tkx_establishment_ack, f_establishment_ack),
	MSG("EstablishmentReject", TKX_ESTABLISHMENT_REJECT, tkx_establishment_reject,
	    f_establishment_reject),
	MSG("Sequence", TKX_SEQUENCE, tkx_sequence, f_sequence),
	MSG("NotApplied", TKX_NOT_APPLIED, tkx_not_applied, f_not_applied),
	MSG("RetransmitRequest", TKX_RETRANSMIT_REQUEST, tkx_retransmit_request,
	    f_retransmit_request),
	MSG("Retransmission", TKX_RETRANSMISSION, tkx_retransmission, f_retransmission),
	MSG("RetransmitReject", TKX_RETRANSMIT_REJECT, tkx_retransmit_reject, f_retransmit_reject),
	MSG("Terminate", TKX_TERMINATE, tkx_terminate, f_terminate),
	MSG("DatagramAuth", TKX_DATAGRAM_AUTH, tkx_datagram_auth, f_datagram_auth),
	MSG("NewOrder", TKX_NEW_ORDER, tkx_new_order, f_new_order),
	MSG("CancelOrder", TKX_CANCEL_ORDER, tkx_cancel_order, f_cancel_order),
	MSG("ModifyOrder", TKX_MODIFY_ORDER, tkx_modify_order, f_modify_order),
	MSG("MassCancel", TKX_MASS_CANCEL, tkx_mass_cancel, f_mass_cancel),
	MSG("ExecAck", TKX_EXEC_ACK, tkx_exec_ack, f_exec_ack),
	MSG("ExecReject", TKX_EXEC_REJECT, tkx_exec_reject, f_exec_reject),
	MSG("Fill", TKX_FILL, tkx_fill, f_fill),
	MSG("Cancelled", TKX_CANCELLED, tkx_cancelled, f_cancelled),
	MSG("ModifyAck", TKX_MODIFY_ACK, tkx_modify_ack, f_modify_ack),
	MSG("MassCancelAck", TKX_MASS_CANCEL_ACK, tkx_mass_cancel_ack, f_mass_cancel_ack),
	MSG("BusinessReject", TKX_BUSINESS_REJECT, tkx_business_reject, f_business_reject),
	MSG("StopElected", TKX_STOP_ELECTED, tkx_stop_elected, f_stop_elected),
	MSG("TopOfBook", TKX_MD_TOP_OF_BOOK, tkx_md_top_of_book, f_md_top_of_book),
	MSG("Trade", TKX_MD_TRADE, tkx_md_trade, f_md_trade),
	MSG("ContractStatus", TKX_MD_CONTRACT_STATUS, tkx_md_contract_status,
	    f_md_contract_status),
	MSG("Snapshot", TKX_MD_SNAPSHOT, tkx_md_snapshot, f_md_snapshot),
	MSG("GapReject", TKX_MD_GAP_REJECT, tkx_md_gap_reject, f_md_gap_reject),
	MSG("InstrumentDefinition", TKX_MD_INSTRUMENT, tkx_md_instrument, f_md_instrument),
	MSG("OrderBook", TKX_MD_ORDER, tkx_md_order, f_md_order),
	MSG("Depth", TKX_MD_DEPTH, tkx_md_depth, f_md_depth),
};

/* Composites that are not messages. */
static const struct field_spec f_hdr[] = {
	F(tkx_hdr, block_length, "blockLength"),
	F(tkx_hdr, template_id, "templateId"),
	F(tkx_hdr, schema_id, "schemaId"),
	F(tkx_hdr, version, "version"),
};
static const struct field_spec f_md_hdr[] = {
	F(tkx_md_hdr, session, "session"),
	F(tkx_md_hdr, sequence, "sequence"),
	F(tkx_md_hdr, count, "count"),
};

/* ---- The C side: every enum --------------------------------------------------------- */

struct enum_val {
	const char *name; /* validValue name: the C name without its TKX_xxx_ prefix */
	long value;
};
#define E(c, x) { x, (long)(c) }

struct enum_spec {
	const char *name;   /* XML enum name */
	size_t enc_size;    /* width of the C field that carries it */
	const struct enum_val *vals;
	size_t n;
};

static const struct enum_val e_template[] = {
	E(TKX_NEGOTIATE, "NEGOTIATE"),
	E(TKX_NEGOTIATION_RESPONSE, "NEGOTIATION_RESPONSE"),
	E(TKX_NEGOTIATION_REJECT, "NEGOTIATION_REJECT"),
	E(TKX_ESTABLISH, "ESTABLISH"),
	E(TKX_ESTABLISHMENT_ACK, "ESTABLISHMENT_ACK"),
	E(TKX_ESTABLISHMENT_REJECT, "ESTABLISHMENT_REJECT"),
	E(TKX_SEQUENCE, "SEQUENCE"),
	E(TKX_NOT_APPLIED, "NOT_APPLIED"),
	E(TKX_RETRANSMIT_REQUEST, "RETRANSMIT_REQUEST"),
	E(TKX_RETRANSMISSION, "RETRANSMISSION"),
	E(TKX_RETRANSMIT_REJECT, "RETRANSMIT_REJECT"),
	E(TKX_TERMINATE, "TERMINATE"),
	E(TKX_DATAGRAM_AUTH, "DATAGRAM_AUTH"),
	E(TKX_NEW_ORDER, "NEW_ORDER"),
	E(TKX_CANCEL_ORDER, "CANCEL_ORDER"),
	E(TKX_MODIFY_ORDER, "MODIFY_ORDER"),
	E(TKX_MASS_CANCEL, "MASS_CANCEL"),
	E(TKX_EXEC_ACK, "EXEC_ACK"),
	E(TKX_EXEC_REJECT, "EXEC_REJECT"),
	E(TKX_FILL, "FILL"),
	E(TKX_CANCELLED, "CANCELLED"),
	E(TKX_MODIFY_ACK, "MODIFY_ACK"),
	E(TKX_MASS_CANCEL_ACK, "MASS_CANCEL_ACK"),
	E(TKX_BUSINESS_REJECT, "BUSINESS_REJECT"),
	E(TKX_STOP_ELECTED, "STOP_ELECTED"),
	E(TKX_MD_TOP_OF_BOOK, "MD_TOP_OF_BOOK"),
	E(TKX_MD_TRADE, "MD_TRADE"),
	E(TKX_MD_CONTRACT_STATUS, "MD_CONTRACT_STATUS"),
	E(TKX_MD_SNAPSHOT, "MD_SNAPSHOT"),
	E(TKX_MD_GAP_REJECT, "MD_GAP_REJECT"),
	E(TKX_MD_INSTRUMENT, "MD_INSTRUMENT"),
	E(TKX_MD_ORDER, "MD_ORDER"),
	E(TKX_MD_DEPTH, "MD_DEPTH"),
};
static const struct enum_val e_side[] = {
	E(TKX_SIDE_BUY, "BUY"),
	E(TKX_SIDE_SELL, "SELL"),
};
static const struct enum_val e_settle[] = {
	E(TKX_SETTLE_CASH_INDEX, "CASH_INDEX"),
};
static const struct enum_val e_action[] = {
	E(TKX_ACT_ADD, "ADD"),
	E(TKX_ACT_MODIFY, "MODIFY"),
	E(TKX_ACT_DELETE, "DELETE"),
	E(TKX_ACT_EXECUTE, "EXECUTE"),
	E(TKX_ACT_SNAPSHOT, "SNAPSHOT"),
};
static const struct enum_val e_aggressor[] = {
	E(TKX_AGGRESSOR_NONE, "NONE"),
	E(TKX_AGGRESSOR_BUY, "BUY"),
	E(TKX_AGGRESSOR_SELL, "SELL"),
};
static const struct enum_val e_tif[] = {
	E(TKX_TIF_GTC, "GTC"),
	E(TKX_TIF_IOC, "IOC"),
	E(TKX_TIF_FOK, "FOK"),
	E(TKX_TIF_POST, "POST"),
	E(TKX_TIF_DAY, "DAY"),
};
static const struct enum_val e_scope[] = {
	E(TKX_SCOPE_SESSION, "SESSION"),
	E(TKX_SCOPE_ACCOUNT, "ACCOUNT"),
};
static const struct enum_val e_reject[] = {
	E(TKX_REJ_INVALID_PRICE, "INVALID_PRICE"),
	E(TKX_REJ_INVALID_QTY, "INVALID_QTY"),
	E(TKX_REJ_INVALID_SIDE, "INVALID_SIDE"),
	E(TKX_REJ_INVALID_TIF, "INVALID_TIF"),
	E(TKX_REJ_UNKNOWN_CONTRACT, "UNKNOWN_CONTRACT"),
	E(TKX_REJ_CLORDID_REUSED, "CLORDID_REUSED"),
	E(TKX_REJ_UNKNOWN_ORDER, "UNKNOWN_ORDER"),
	E(TKX_REJ_POST_CROSS, "POST_CROSS"),
	E(TKX_REJ_TICK, "TICK"),
	E(TKX_REJ_PRICE_BAND, "PRICE_BAND"),
	E(TKX_REJ_MAX_QTY, "MAX_QTY"),
	E(TKX_REJ_BOOK_FULL, "BOOK_FULL"),
	E(TKX_REJ_BUSY, "BUSY"),
	E(TKX_REJ_PHASE, "PHASE"),
	E(TKX_REJ_HALTED, "HALTED"),
	E(TKX_REJ_THROTTLED, "THROTTLED"),
	E(TKX_REJ_KILL_SWITCH, "KILL_SWITCH"),
	E(TKX_REJ_POSITION_LIMIT, "POSITION_LIMIT"),
	E(TKX_REJ_DUP_ORDER, "DUP_ORDER"),
	E(TKX_REJ_NOT_OWNER, "NOT_OWNER"),
	E(TKX_REJ_STORAGE, "STORAGE"),
	E(TKX_REJ_INVALID_SCOPE, "INVALID_SCOPE"),
	E(TKX_REJ_INVALID_ACCOUNT, "INVALID_ACCOUNT"),
	E(TKX_REJ_INVALID_SHOW, "INVALID_SHOW"),
	E(TKX_REJ_INVALID_STOP, "INVALID_STOP"),
};
static const struct enum_val e_cancel[] = {
	E(TKX_CXL_CLIENT, "CLIENT"),
	E(TKX_CXL_IOC, "IOC"),
	E(TKX_CXL_FOK, "FOK"),
	E(TKX_CXL_STP, "STP"),
	E(TKX_CXL_MASS, "MASS"),
	E(TKX_CXL_DISCONNECT, "DISCONNECT"),
	E(TKX_CXL_KILL_SWITCH, "KILL_SWITCH"),
	E(TKX_CXL_EXPIRY, "EXPIRY"),
	E(TKX_CXL_OPERATOR, "OPERATOR"),
	E(TKX_CXL_DAY_END, "DAY_END"),
	E(TKX_CXL_ELECTED_REFUSED, "ELECTED_REFUSED"),
};
static const struct enum_val e_session_reject[] = {
	E(TKX_SREJ_UNKNOWN_FIRM, "UNKNOWN_FIRM"),
	E(TKX_SREJ_BAD_CREDENTIALS, "BAD_CREDENTIALS"),
	E(TKX_SREJ_STALE_TIMESTAMP, "STALE_TIMESTAMP"),
	E(TKX_SREJ_SESSION_IN_USE, "SESSION_IN_USE"),
	E(TKX_SREJ_NOT_NEGOTIATED, "NOT_NEGOTIATED"),
	E(TKX_SREJ_BAD_KEEPALIVE, "BAD_KEEPALIVE"),
	E(TKX_SREJ_NOT_ESTABLISHED, "NOT_ESTABLISHED"),
	E(TKX_SREJ_OUT_OF_RANGE, "OUT_OF_RANGE"),
	E(TKX_SREJ_TOO_MANY, "TOO_MANY"),
	E(TKX_SREJ_UNSPECIFIED, "UNSPECIFIED"),
	E(TKX_SREJ_SESSION_LIMIT, "SESSION_LIMIT"),
};
static const struct enum_val e_terminate[] = {
	E(TKX_TERM_FINISHED, "FINISHED"),
	E(TKX_TERM_UNSPECIFIED, "UNSPECIFIED"),
	E(TKX_TERM_KEEPALIVE_TIMEOUT, "KEEPALIVE_TIMEOUT"),
	E(TKX_TERM_PROTOCOL_ERROR, "PROTOCOL_ERROR"),
	E(TKX_TERM_THROTTLE, "THROTTLE"),
	E(TKX_TERM_SHUTDOWN, "SHUTDOWN"),
	E(TKX_TERM_SEQ_BELOW_EXPECTED, "SEQ_BELOW_EXPECTED"),
};
static const struct enum_val e_breject[] = {
	E(TKX_BREJ_NOT_ESTABLISHED, "NOT_ESTABLISHED"),
	E(TKX_BREJ_WRONG_DIRECTION, "WRONG_DIRECTION"),
	E(TKX_BREJ_INVALID_FIELD, "INVALID_FIELD"),
	E(TKX_BREJ_UNSUPPORTED, "UNSUPPORTED"),
};
static const struct enum_val e_phase[] = {
	E(TKX_PHASE_DEFINED, "DEFINED"),
	E(TKX_PHASE_LISTED, "LISTED"),
	E(TKX_PHASE_PRE_OPEN, "PRE_OPEN"),
	E(TKX_PHASE_AUCTION, "AUCTION"),
	E(TKX_PHASE_CONTINUOUS, "CONTINUOUS"),
	E(TKX_PHASE_BREAK, "BREAK"),
	E(TKX_PHASE_HALTED, "HALTED"),
	E(TKX_PHASE_CLOSED, "CLOSED"),
	E(TKX_PHASE_SETTLED, "SETTLED"),
	E(TKX_PHASE_EXPIRED, "EXPIRED"),
	E(TKX_PHASE_FINAL_SETTLED, "FINAL_SETTLED"),
	E(TKX_PHASE_DELISTED, "DELISTED"),
};

#define ENUM(name, s, f, arr) { name, FSIZE(s, f), arr, ARRAY_LEN(arr) }
static const struct enum_spec enums[] = {
	ENUM("msgTemplate", tkx_hdr, template_id, e_template),
	ENUM("side", tkx_new_order, side, e_side),
	ENUM("tif", tkx_new_order, tif, e_tif),
	ENUM("massScope", tkx_mass_cancel, scope, e_scope),
	ENUM("rejectReason", tkx_exec_reject, reason, e_reject),
	ENUM("cancelReason", tkx_cancelled, reason, e_cancel),
	ENUM("sessionRejectReason", tkx_negotiation_reject, reason, e_session_reject),
	ENUM("terminateReason", tkx_terminate, reason, e_terminate),
	ENUM("businessRejectReason", tkx_business_reject, reason, e_breject),
	ENUM("phase", tkx_md_contract_status, phase, e_phase),
	ENUM("aggressorSide", tkx_md_trade, aggressor_side, e_aggressor),
	ENUM("settleMethod", tkx_md_instrument, settle_method, e_settle),
	ENUM("mdAction", tkx_md_order, action, e_action),
};

/* ---- The XML side -------------------------------------------------------------------- */

static const char *schema_path;
static xmlDoc *doc;
static const xmlNode *root;

/* Mismatches are printed and counted; a test fails at its end if any were found. */
static int nerr;
#define CHECK(cond, ...)                                                                \
	do {                                                                              \
		if (!(cond)) {                                                            \
			print_error(__VA_ARGS__);                                         \
			print_error("\n");                                                \
			nerr++;                                                           \
		}                                                                         \
	} while (0)

static int is_elem(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* Copy attribute `attr` of n into buf; 1 if present (and fits), else 0. */
static int xattr(const xmlNode *n, const char *attr, char *buf, size_t len)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)attr);
	int ok = 0;

	if (v) {
		const char *s = (const char *)v;

		if (strlen(s) < len) {
			memcpy(buf, s, strlen(s) + 1);
			ok = 1;
		}
		xmlFree(v);
	}
	if (!ok && len)
		buf[0] = '\0';
	return ok;
}

static int parse_long(const char *s, long *out)
{
	char *end;
	long v;

	if (!*s)
		return 0;
	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *end)
		return 0;
	*out = v;
	return 1;
}

static int xattr_long(const xmlNode *n, const char *attr, long *out)
{
	char buf[32];

	return xattr(n, attr, buf, sizeof(buf)) && parse_long(buf, out);
}

/* The text content of an element (a validValue's value) as a number. */
static int xtext_long(const xmlNode *n, long *out)
{
	xmlChar *v = xmlNodeGetContent(n);
	char buf[32] = "";
	const char *s;
	size_t len;

	if (!v)
		return 0;
	s = (const char *)v;
	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	len = strcspn(s, " \t\n");
	if (len < sizeof(buf))
		memcpy(buf, s, len);
	xmlFree(v);
	return len < sizeof(buf) && parse_long(buf, out);
}

static const xmlNode *first_elem(const xmlNode *n)
{
	for (; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

static const xmlNode *next_elem(const xmlNode *n)
{
	return first_elem(n->next);
}

/* A top-level encoding type (<type>, <composite>, <enum>, <set> under any <types>). */
static const xmlNode *find_type(const char *name)
{
	char buf[128];

	for (const xmlNode *t = first_elem(root->children); t; t = next_elem(t)) {
		if (!is_elem(t, "types"))
			continue;
		for (const xmlNode *e = first_elem(t->children); e; e = next_elem(e))
			if (xattr(e, "name", buf, sizeof(buf)) && strcmp(buf, name) == 0)
				return e;
	}
	return NULL;
}

/* An <sbe:message> by name. */
static const xmlNode *find_message(const char *name)
{
	char buf[128];

	for (const xmlNode *m = first_elem(root->children); m; m = next_elem(m))
		if (is_elem(m, "message") && xattr(m, "name", buf, sizeof(buf)) &&
		    strcmp(buf, name) == 0)
			return m;
	return NULL;
}

static long primitive_size(const char *p)
{
	static const struct {
		const char *name;
		long size;
	} prim[] = {
		{ "char", 1 },   { "int8", 1 },   { "uint8", 1 },  { "int16", 2 },
		{ "uint16", 2 }, { "int32", 4 },  { "uint32", 4 }, { "float", 4 },
		{ "int64", 8 },  { "uint64", 8 }, { "double", 8 },
	};

	for (size_t i = 0; i < ARRAY_LEN(prim); i++)
		if (strcmp(prim[i].name, p) == 0)
			return prim[i].size;
	return -1;
}

static long type_size(const char *name, int depth);

/* Encoded size of an encoding element: <type>, <enum>, <set>, <composite> or a composite's
 * <ref>. -1 if it cannot be resolved. */
static long elem_size(const xmlNode *e, int depth)
{
	char buf[128];
	long len = 1, off, size, end;

	if (depth > 16)
		return -1; /* a type that contains itself */
	if (is_elem(e, "type")) {
		if (xattr(e, "presence", buf, sizeof(buf)) && strcmp(buf, "constant") == 0)
			return 0; /* not on the wire */
		if (!xattr(e, "primitiveType", buf, sizeof(buf)))
			return -1;
		size = primitive_size(buf);
		if (xattr(e, "length", buf, sizeof(buf)) && (!parse_long(buf, &len) || len < 0))
			return -1;
		return size < 0 ? -1 : size * len;
	}
	if (is_elem(e, "enum") || is_elem(e, "set"))
		return xattr(e, "encodingType", buf, sizeof(buf)) ? type_size(buf, depth + 1) : -1;
	if (is_elem(e, "ref"))
		return xattr(e, "type", buf, sizeof(buf)) ? type_size(buf, depth + 1) : -1;
	if (is_elem(e, "composite")) {
		end = 0;
		for (const xmlNode *m = first_elem(e->children); m; m = next_elem(m)) {
			size = elem_size(m, depth + 1);
			if (size < 0)
				return -1;
			if (xattr_long(m, "offset", &off)) {
				if (off < end)
					return -1; /* overlapping members */
				end = off;
			}
			end += size;
		}
		return end;
	}
	return -1;
}

static long type_size(const char *name, int depth)
{
	long p = primitive_size(name);
	const xmlNode *t;

	if (p > 0)
		return p;
	t = find_type(name);
	return t ? elem_size(t, depth) : -1;
}

/* Compare a composite's members with a C struct: names, order, offsets, sizes, total. */
static void check_composite(const char *name, const struct field_spec *f, size_t n,
			    size_t total, const char *want_prim)
{
	const xmlNode *c = find_type(name);
	const xmlNode *m;
	char buf[128];
	long off = 0, size, eoff;
	size_t i = 0;

	assert_non_null(c);
	assert_true(is_elem(c, "composite"));
	for (m = first_elem(c->children); m; m = next_elem(m), i++) {
		if (i >= n) {
			xattr(m, "name", buf, sizeof(buf));
			CHECK(0, "%s: member '%s' is not in struct", name, buf);
			continue;
		}
		CHECK(xattr(m, "name", buf, sizeof(buf)) && strcmp(buf, f[i].xname) == 0,
		      "%s: member %zu is '%s', want '%s'", name, i, buf, f[i].xname);
		if (want_prim)
			CHECK(xattr(m, "primitiveType", buf, sizeof(buf)) &&
				      strcmp(buf, want_prim) == 0,
			      "%s.%s: primitiveType '%s', want '%s'", name, f[i].xname, buf,
			      want_prim);
		if (xattr_long(m, "offset", &eoff))
			off = eoff;
		size = elem_size(m, 0);
		CHECK(off == (long)f[i].off, "%s.%s: offset %ld, C offset %zu", name, f[i].xname,
		      off, f[i].off);
		CHECK(size == (long)f[i].size, "%s.%s: size %ld, C size %zu", name, f[i].xname,
		      size, f[i].size);
		off += size;
	}
	CHECK(i == n, "%s: %zu members, struct has %zu fields", name, i, n);
	CHECK(elem_size(c, 0) == (long)total, "%s: %ld bytes, struct is %zu", name,
	      elem_size(c, 0), total);
}

/* ---- Tests --------------------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	LIBXML_TEST_VERSION
	doc = xmlReadFile(schema_path, NULL, XML_PARSE_NONET);
	if (!doc) {
		print_error("cannot parse %s\n", schema_path);
		return -1;
	}
	root = xmlDocGetRootElement(doc);
	if (!root) {
		print_error("%s: no root element\n", schema_path);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	xmlFreeDoc(doc);
	xmlCleanupParser();
	return 0;
}

static int reset_errors(void **state)
{
	(void)state;
	nerr = 0;
	return 0;
}

/* The C tables themselves: each covers its struct exactly, field after field. */
static void table_complete(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(msgs); i++) {
		size_t end = 0;

		for (size_t j = 0; j < msgs[i].nfields; j++) {
			CHECK(msgs[i].fields[j].off == end, "table %s: %s at %zu, expected %zu",
			      msgs[i].cname, msgs[i].fields[j].cname, msgs[i].fields[j].off, end);
			end = msgs[i].fields[j].off + msgs[i].fields[j].size;
		}
		CHECK(end == msgs[i].size, "table %s: fields end at %zu, struct is %zu",
		      msgs[i].cname, end, msgs[i].size);
		for (size_t j = 0; j < i; j++)
			CHECK(msgs[j].id != msgs[i].id && strcmp(msgs[j].name, msgs[i].name) != 0,
			      "table: %s and %s share an id or name", msgs[j].name, msgs[i].name);
		CHECK(msgs[i].size + TKX_HDR_LEN <= TKX_MAX_MSG_LEN,
		      "%s: %zu + header above TKX_MAX_MSG_LEN", msgs[i].name, msgs[i].size);
	}
	assert_int_equal(nerr, 0);
}

static void schema_attributes(void **state)
{
	char buf[256];
	long v;

	(void)state;
	CHECK(is_elem(root, "messageSchema"), "root is <%s>, want <sbe:messageSchema>",
	      (const char *)root->name);
	CHECK(root->ns && root->ns->href && strcmp((const char *)root->ns->href, SBE_NS) == 0,
	      "root namespace is not " SBE_NS);
	CHECK(xattr(root, "package", buf, sizeof(buf)) && strcmp(buf, "tokex") == 0,
	      "package '%s', want 'tokex'", buf);
	CHECK(xattr_long(root, "id", &v) && v == TKX_SCHEMA_ID, "schema id != TKX_SCHEMA_ID");
	CHECK(xattr_long(root, "version", &v) && v == TKX_SCHEMA_VERSION,
	      "schema version != TKX_SCHEMA_VERSION");
	CHECK(xattr(root, "byteOrder", buf, sizeof(buf)) && strcmp(buf, "littleEndian") == 0,
	      "byteOrder '%s', want littleEndian", buf);
	CHECK(xattr(root, "semanticVersion", buf, sizeof(buf)) && buf[0],
	      "semanticVersion missing");
	CHECK(xattr(root, "description", buf, sizeof(buf)) && buf[0], "description missing");
	CHECK(!xattr(root, "headerType", buf, sizeof(buf)) || strcmp(buf, "messageHeader") == 0,
	      "headerType '%s', want messageHeader", buf);
	assert_int_equal(nerr, 0);
}

static void message_header(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct tkx_hdr), TKX_HDR_LEN);
	check_composite("messageHeader", f_hdr, ARRAY_LEN(f_hdr), sizeof(struct tkx_hdr),
			"uint16");
	assert_int_equal(nerr, 0);
}

static void md_packet_header(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct tkx_md_hdr), TKX_MD_HDR_LEN);
	check_composite("mdPacketHeader", f_md_hdr, ARRAY_LEN(f_md_hdr),
			sizeof(struct tkx_md_hdr), NULL);
	assert_int_equal(FSIZE(tkx_md_hdr, session), TKX_MD_SESSION_LEN);
	assert_int_equal(type_size("mdSession", 0), TKX_MD_SESSION_LEN);
	assert_int_equal(type_size("credentials", 0), TKX_CREDENTIAL_LEN);
	assert_int_equal(nerr, 0);
}

static void enum_values(void **state)
{
	char buf[128];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(enums); i++) {
		const struct enum_spec *es = &enums[i];
		const xmlNode *e = find_type(es->name);
		size_t j = 0;
		long v;

		CHECK(e && is_elem(e, "enum"), "enum %s missing", es->name);
		if (!e || !is_elem(e, "enum"))
			continue;
		CHECK(elem_size(e, 0) == (long)es->enc_size, "enum %s: %ld bytes, C field %zu",
		      es->name, elem_size(e, 0), es->enc_size);
		for (const xmlNode *vv = first_elem(e->children); vv; vv = next_elem(vv), j++) {
			xattr(vv, "name", buf, sizeof(buf));
			if (j >= es->n) {
				CHECK(0, "enum %s: validValue %s is not in the C enum", es->name,
				      buf);
				continue;
			}
			CHECK(strcmp(buf, es->vals[j].name) == 0, "enum %s: value %zu is %s, want %s",
			      es->name, j, buf, es->vals[j].name);
			CHECK(xtext_long(vv, &v) && v == es->vals[j].value,
			      "enum %s.%s: XML value != C value %ld", es->name, es->vals[j].name,
			      es->vals[j].value);
		}
		CHECK(j == es->n, "enum %s: %zu validValues, C enum has %zu", es->name, j, es->n);
	}
	assert_int_equal(nerr, 0);
}

/* One message: the state is the index into msgs[]. */
static void message_layout(void **state)
{
	const struct msg_spec *ms = &msgs[(size_t)(uintptr_t)*state];
	const xmlNode *m = find_message(ms->name);
	const xmlNode *x;
	char buf[128];
	long v, sum = 0;
	size_t i = 0;

	assert_non_null(m);
	CHECK(xattr_long(m, "id", &v) && v == (long)ms->id, "%s: id != %u", ms->name, ms->id);
	CHECK(xattr_long(m, "blockLength", &v) && v == (long)ms->size,
	      "%s: blockLength != sizeof(struct %s) = %zu", ms->name, ms->cname, ms->size);
	for (x = first_elem(m->children); x; x = next_elem(x), i++) {
		const struct field_spec *f = i < ms->nfields ? &ms->fields[i] : NULL;
		long off = -1, size, id;

		CHECK(is_elem(x, "field"), "%s: <%s> in a fixed-length message", ms->name,
		      (const char *)x->name);
		xattr(x, "name", buf, sizeof(buf));
		CHECK(f, "%s: field %s is not in struct %s", ms->name, buf, ms->cname);
		if (!f)
			continue;
		CHECK(strcmp(buf, f->xname) == 0, "%s: field %zu is '%s', want '%s' (C %s)",
		      ms->name, i, buf, f->xname, f->cname);
		CHECK(xattr_long(x, "id", &id) && id == (long)i + 1, "%s.%s: id != %zu",
		      ms->name, f->xname, i + 1);
		CHECK(xattr_long(x, "offset", &off), "%s.%s: no explicit offset", ms->name,
		      f->xname);
		CHECK(off == (long)f->off, "%s.%s: offset %ld, C offsetof(%s) = %zu", ms->name,
		      f->xname, off, f->cname, f->off);
		CHECK(!xattr(x, "presence", buf, sizeof(buf)) || strcmp(buf, "constant") != 0,
		      "%s.%s: constant field in a C struct", ms->name, f->xname);
		if (!xattr(x, "type", buf, sizeof(buf))) {
			CHECK(0, "%s.%s: no type", ms->name, f->xname);
			continue;
		}
		size = type_size(buf, 0);
		CHECK(size == (long)f->size, "%s.%s: type %s is %ld bytes, C field is %zu",
		      ms->name, f->xname, buf, size, f->size);
		if (f->xtype)
			CHECK(strcmp(buf, f->xtype) == 0, "%s.%s: type %s, want %s", ms->name,
			      f->xname, buf, f->xtype);
		if (size > 0)
			sum += size;
	}
	CHECK(i == ms->nfields, "%s: %zu fields in XML, %zu in struct %s", ms->name, i,
	      ms->nfields, ms->cname);
	CHECK(sum == (long)ms->size, "%s: fields sum to %ld bytes, sizeof is %zu", ms->name, sum,
	      ms->size);
	assert_int_equal(nerr, 0);
}

/* Every message in the XML is one the C side knows, once. */
static void no_unknown_messages(void **state)
{
	char buf[128];
	size_t n = 0;

	(void)state;
	for (const xmlNode *m = first_elem(root->children); m; m = next_elem(m)) {
		int known = 0;
		long id;

		if (!is_elem(m, "message"))
			continue;
		n++;
		xattr(m, "name", buf, sizeof(buf));
		CHECK(m->ns && strcmp((const char *)m->ns->href, SBE_NS) == 0,
		      "message %s not in the sbe namespace", buf);
		for (size_t i = 0; i < ARRAY_LEN(msgs); i++)
			if (strcmp(msgs[i].name, buf) == 0)
				known = 1;
		CHECK(known, "message %s is not in proto.h", buf);
		CHECK(xattr_long(m, "id", &id), "message %s: no id", buf);
	}
	CHECK(n == ARRAY_LEN(msgs), "%zu messages in XML, %zu in proto.h", n, ARRAY_LEN(msgs));
	assert_int_equal(nerr, 0);
}

int main(int argc, char **argv)
{
	enum { NFIXED = 6 };
	struct CMUnitTest tests[NFIXED + ARRAY_LEN(msgs)] = {
		{ "table_complete", table_complete, reset_errors, NULL, NULL },
		{ "schema_attributes", schema_attributes, reset_errors, NULL, NULL },
		{ "message_header", message_header, reset_errors, NULL, NULL },
		{ "md_packet_header", md_packet_header, reset_errors, NULL, NULL },
		{ "enum_values", enum_values, reset_errors, NULL, NULL },
		{ "no_unknown_messages", no_unknown_messages, reset_errors, NULL, NULL },
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s path/to/tokex-sbe.xml\n", argv[0]);
		return 2;
	}
	schema_path = argv[1];
	for (size_t i = 0; i < ARRAY_LEN(msgs); i++) {
		tests[NFIXED + i] = (struct CMUnitTest){
			.name = msgs[i].name,
			.test_func = message_layout,
			.setup_func = reset_errors,
			.initial_state = (void *)(uintptr_t)i,
		};
	}
	return _cmocka_run_group_tests("schema", tests, ARRAY_LEN(tests), group_setup,
				       group_teardown);
}
