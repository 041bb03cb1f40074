/*
 * codec_samples.h - one valid, distinctive sample of every tokex message, for the codec
 * tests (tests/proto) and the fuzzer's seed corpus (tests/fuzz).
 *
 * Every field is non-zero where the protocol allows it, so a byte dropped or swapped by the
 * codec shows in a round trip; reserved fields are zero and enums are in range, so every
 * sample passes tkx_validate().
 */
#ifndef TOKEX_TESTS_CODEC_SAMPLES_H
#define TOKEX_TESTS_CODEC_SAMPLES_H

#include <string.h>

#include "tokex/codec.h"

static const uint16_t tkx_sample_ids[] = {
#define TKX__SAMPLE_ID(id, name, text, dir) TKX_##id,
	TKX_TEMPLATES(TKX__SAMPLE_ID)
#undef TKX__SAMPLE_ID
};
#define TKX_SAMPLE_COUNT (sizeof(tkx_sample_ids) / sizeof(tkx_sample_ids[0]))

#define TKX_T0 1767225600123456789ull /* 2026-01-01T00:00:00.123456789Z */

/* Fill m with the sample of template tid; 0, or -1 for an unknown template. */
static inline int tkx_sample(uint16_t tid, struct tkx_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->template_id = tid;
	switch (tid) {
	case TKX_NEGOTIATE:
		m->negotiate = (struct tkx_negotiate){
			.session_id = 0x1122334455667788ull, .timestamp = TKX_T0, .firm_id = 4242};
		memset(m->negotiate.credentials, 0xA5, TKX_CREDENTIAL_LEN);
		break;
	case TKX_NEGOTIATION_RESPONSE:
		m->negotiation_response = (struct tkx_negotiation_response){
			.session_id = 0x1122334455667788ull, .request_timestamp = TKX_T0,
			.firm_id = 4242};
		break;
	case TKX_NEGOTIATION_REJECT:
		m->negotiation_reject = (struct tkx_negotiation_reject){
			.session_id = 0x1122334455667788ull, .request_timestamp = TKX_T0,
			.reason = TKX_SREJ_BAD_CREDENTIALS};
		break;
	case TKX_ESTABLISH:
		m->establish = (struct tkx_establish){
			.session_id = 0x1122334455667788ull, .timestamp = TKX_T0 + 1,
			.next_seq_no = 1001, .keepalive_ms = 1500, .cancel_on_disconnect = 1};
		memset(m->establish.credentials, 0x5A, TKX_CREDENTIAL_LEN);
		break;
	case TKX_ESTABLISHMENT_ACK:
		m->establishment_ack = (struct tkx_establishment_ack){
			.session_id = 0x1122334455667788ull, .request_timestamp = TKX_T0 + 1,
			.next_seq_no = 77, .expected_seq_no = 1001, .keepalive_ms = 1000};
		break;
	case TKX_ESTABLISHMENT_REJECT:
		m->establishment_reject = (struct tkx_establishment_reject){
			.session_id = 0x1122334455667788ull, .request_timestamp = TKX_T0 + 1,
			.reason = TKX_SREJ_BAD_KEEPALIVE};
		break;
	case TKX_SEQUENCE:
		m->sequence = (struct tkx_sequence){.next_seq_no = 0x0102030405060708ull};
		break;
	case TKX_NOT_APPLIED:
		m->not_applied = (struct tkx_not_applied){.from_seq_no = 1003, .count = 4};
		break;
	case TKX_RETRANSMIT_REQUEST:
		m->retransmit_request = (struct tkx_retransmit_request){
			.session_id = 0x1122334455667788ull, .timestamp = TKX_T0 + 2,
			.from_seq_no = 60, .count = 17};
		break;
	case TKX_RETRANSMISSION:
		m->retransmission = (struct tkx_retransmission){
			.session_id = 0x1122334455667788ull, .request_timestamp = TKX_T0 + 2,
			.next_seq_no = 60, .count = 17};
		break;
	case TKX_RETRANSMIT_REJECT:
		m->retransmit_reject = (struct tkx_retransmit_reject){
			.session_id = 0x1122334455667788ull, .request_timestamp = TKX_T0 + 2,
			.reason = TKX_SREJ_OUT_OF_RANGE};
		break;
	case TKX_TERMINATE:
		m->terminate = (struct tkx_terminate){
			.session_id = 0x1122334455667788ull, .reason = TKX_TERM_SHUTDOWN};
		break;
	case TKX_DATAGRAM_AUTH:
		m->datagram_auth = (struct tkx_datagram_auth){
			.counter = 0x0102030405060708ull,
			.mac = {0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8}};
		break;
	case TKX_NEW_ORDER:
		m->new_order = (struct tkx_new_order){
			.cl_ord_id = 1001, .price = 1234500, .qty = 25, .contract_id = 7,
			.account = 99, .side = TKX_SIDE_BUY, .tif = TKX_TIF_IOC};
		/* stop_price and show_qty stay 0: each is valid with some tifs only, and
		 * the tests vary tif over every value (test_codec's order-type tests set
		 * them) */
		break;
	case TKX_CANCEL_ORDER:
		m->cancel_order = (struct tkx_cancel_order){
			.cl_ord_id = 1002, .order_id = 0xABCDEF0123ull, .contract_id = 7};
		break;
	case TKX_MODIFY_ORDER:
		m->modify_order = (struct tkx_modify_order){
			.cl_ord_id = 1003, .order_id = 0xABCDEF0123ull, .price = 1234600, .qty = 10,
			.contract_id = 7};
		break;
	case TKX_MASS_CANCEL:
		m->mass_cancel = (struct tkx_mass_cancel){
			.cl_ord_id = 1004, .contract_id = 7, .account = 99,
			.scope = TKX_SCOPE_ACCOUNT, .side = TKX_SIDE_SELL};
		break;
	case TKX_EXEC_ACK:
		m->exec_ack = (struct tkx_exec_ack){
			.cl_ord_id = 1001, .order_id = 0xABCDEF0123ull, .price = 1234500,
			.transact_time = TKX_T0 + 10, .qty = 25, .contract_id = 7,
			.side = TKX_SIDE_BUY, .tif = TKX_TIF_IOC};
		break;
	case TKX_EXEC_REJECT:
		m->exec_reject = (struct tkx_exec_reject){
			.cl_ord_id = 1005, .transact_time = TKX_T0 + 11, .order_id = 0xABCDEF0124ull,
			.contract_id = 7, .reason = TKX_REJ_UNKNOWN_ORDER,
			.ref_template_id = TKX_CANCEL_ORDER};
		break;
	case TKX_FILL:
		m->fill = (struct tkx_fill){
			.cl_ord_id = 1001, .order_id = 0xABCDEF0123ull, .trade_id = 555,
			.price = 1234400, .transact_time = TKX_T0 + 12, .qty = 5, .leaves_qty = 20,
			.contract_id = 7, .side = TKX_SIDE_BUY, .aggressor = 1};
		break;
	case TKX_CANCELLED:
		m->cancelled = (struct tkx_cancelled){
			.cl_ord_id = 1002, .order_id = 0xABCDEF0123ull, .transact_time = TKX_T0 + 13,
			.orig_cl_ord_id = 1001, .qty = 20, .contract_id = 7,
			.reason = TKX_CXL_IOC, .side = TKX_SIDE_BUY};
		break;
	case TKX_MODIFY_ACK:
		m->modify_ack = (struct tkx_modify_ack){
			.cl_ord_id = 1003, .order_id = 0xABCDEF0123ull, .price = 1234600,
			.transact_time = TKX_T0 + 14, .qty = 10, .contract_id = 7,
			.side = TKX_SIDE_SELL};
		break;
	case TKX_MASS_CANCEL_ACK:
		m->mass_cancel_ack = (struct tkx_mass_cancel_ack){
			.cl_ord_id = 1004, .transact_time = TKX_T0 + 15, .count = 3,
			.contract_id = 7, .account = 99, .scope = TKX_SCOPE_ACCOUNT,
			.side = TKX_SIDE_SELL};
		break;
	case TKX_BUSINESS_REJECT:
		m->business_reject = (struct tkx_business_reject){
			.ref_seq_no = 1006, .transact_time = TKX_T0 + 16,
			.ref_template_id = TKX_EXEC_ACK, .reason = TKX_BREJ_WRONG_DIRECTION};
		break;
	case TKX_STOP_ELECTED:
		m->stop_elected = (struct tkx_stop_elected){
			.cl_ord_id = 1001, .order_id = 0xABCDEF0123ull, .price = 1234500,
			.transact_time = TKX_T0 + 17, .qty = 25, .contract_id = 7,
			.side = TKX_SIDE_BUY};
		break;
	case TKX_MD_TOP_OF_BOOK:
		m->md_top_of_book = (struct tkx_md_top_of_book){
			.transact_time = TKX_T0 + 20, .bid_price = 1234400, .ask_price = TKX_NULL_PRICE,
			.bid_qty = 40, .ask_qty = 0, .contract_id = 7};
		break;
	case TKX_MD_TRADE:
		m->md_trade = (struct tkx_md_trade){
			.transact_time = TKX_T0 + 21, .trade_id = 555, .price = 1234400, .qty = 5,
			.contract_id = 7, .aggressor_side = TKX_SIDE_SELL};
		break;
	case TKX_MD_CONTRACT_STATUS:
		m->md_contract_status = (struct tkx_md_contract_status){
			.transact_time = TKX_T0 + 22, .contract_id = 7, .phase = TKX_PHASE_SETTLED,
			.price = 1234000};
		break;
	case TKX_MD_SNAPSHOT:
		m->md_snapshot = (struct tkx_md_snapshot){
			.transact_time = TKX_T0 + 23, .as_of_seq = 123456, .bid_price = 1234400,
			.ask_price = 1234700, .bid_qty = 40, .ask_qty = 15, .last_price = 1234400,
			.volume = 987654, .contract_id = 7, .phase = TKX_PHASE_CONTINUOUS};
		break;
	case TKX_MD_GAP_REJECT:
		m->md_gap_reject = (struct tkx_md_gap_reject){
			.first_available_seq = 5000, .requested_seq = 4000};
		break;
	case TKX_MD_INSTRUMENT:
		m->md_instrument = (struct tkx_md_instrument){
			.tick = 100, .limit_lo = 1135600, .limit_hi = 1333200, .prev_settle = 1234400,
			.contract_id = 7, .max_qty = 1000, .first_day = 20260105,
			.last_day = 20260130, .unit = 1000000, .currency = {'C', 'N', 'Y'},
			.phase = TKX_PHASE_CONTINUOUS, .settle_method = TKX_SETTLE_CASH_INDEX,
			.symbol = {'T', 'K', 'N', '2', '6', '0', '1', ' ', ' ', ' ', ' ', ' '}};
		break;
	case TKX_MD_ORDER:
		m->md_order = (struct tkx_md_order){
			.transact_time = TKX_T0 + 24, .order_id = 0x0102030405060708ull,
			.price = 1234500, .priority = 77, .trade_id = 556, .qty = 3, .exec_qty = 2,
			.contract_id = 7, .action = TKX_ACT_EXECUTE, .side = TKX_SIDE_SELL};
		break;
	case TKX_MD_DEPTH:
		m->md_depth = (struct tkx_md_depth){
			.transact_time = TKX_T0 + 25, .price = 1234300, .qty = 41, .contract_id = 7,
			.level = 2, .side = TKX_SIDE_BUY, .flags = 0, .depth = 10};
		break;
	default:
		return -1;
	}
	return 0;
}

#endif /* TOKEX_TESTS_CODEC_SAMPLES_H */
