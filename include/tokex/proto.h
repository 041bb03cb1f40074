/*
 * tokex/proto.h - the tokex wire protocol: message layouts, codes, and the codec API.
 *
 * Role: every byte that enters or leaves tokex passes through these structs. The codec
 * (tokex/codec.h: tkx_decode(), tkx_validate(), the tkx_enc_*() encoders) reads and
 * writes them on RX, matching and TX cores and in the client library. docs/protocol.md
 * is the prose specification; include/tokex/tokex-sbe.xml is the same layout as an SBE
 * 1.0 schema, and a test checks that the two agree byte for byte.
 *
 * Layout rules (all messages):
 *  1. Little-endian, fixed length, no variable data. Every field sits at its natural
 *     alignment inside the block; explicit `reserved` fields fill the gaps and must be
 *     sent as zero. Sizes and offsets are locked by _Static_assert below.
 *  2. Each message = 8-byte SBE message header (blockLength, templateId, schemaId,
 *     version) + a block of exactly blockLength bytes. blockLength must equal the
 *     template's size in this version; anything else is rejected (no silent skipping).
 *  3. UDP order entry: one datagram carries one or more messages back to back. FIXP
 *     style, a datagram carrying application messages starts with a Sequence message;
 *     the application messages after it are numbered implicitly from its next_seq_no.
 *     Every datagram of a negotiated or established session ends with a DatagramAuth
 *     (the client's Negotiate/Establish-only datagrams may go without: they are signed
 *     message by message): a counter and a SipHash-2-4 MAC over the bytes before the
 *     MAC, keyed per session and direction from the firm's secret (tkx_auth_* in
 *     codec.h; docs/protocol.md 4.13).
 *  4. TCP order entry: each message is preceded by the Simple Open Framing Header:
 *     uint32 message length (SOFH included) and uint16 encoding type 0xEB50 (SBE 1.0
 *     little-endian), both big-endian as the FIX SOFH standard requires.
 *  5. Market data: MoldUDP64-style packets: a 20-byte header (session, sequence of the
 *     first message, message count; count 0 = heartbeat, 0xFFFF = end of session) then
 *     `count` messages each preceded by a uint16 length. Unlike NASDAQ's MoldUDP64 the
 *     header fields are little-endian, like the rest of tokex.
 *  6. Prices are int64 in units of 0.0001 of the quote currency (4 implied decimals);
 *     a contract's tick is a multiple of that unit. Quantities are lots. INT64_MIN is
 *     the null price (SBE's int64 nullValue), e.g. for an empty side.
 */
#ifndef TOKEX_PROTO_H
#define TOKEX_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* C and C++ alike (the headers are compiled as C++ in the tests): the layout checks as
 * static_assert in C++, and the declarations with C linkage. */
#ifndef TKX_STATIC_ASSERT
#ifdef __cplusplus
#define TKX_STATIC_ASSERT static_assert
#else
#define TKX_STATIC_ASSERT _Static_assert
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tokex's wire structs are little-endian and are copied as-is: little-endian hosts only"
#endif

#define TKX_SCHEMA_ID 7411
#define TKX_SCHEMA_VERSION 3 /* 2: DatagramAuth (13) on UDP order entry; 3: DAY orders,
			      * icebergs and stop orders (NewOrder 48 bytes), StopElected (207) */
/* Version 3 also brought, on market data: Trade.aggressor_side NONE (an uncross),
 * InstrumentDefinition (305), order-by-order (306) and depth (307) messages. */
#define TKX_SOFH_ENCODING 0xEB50u /* SBE 1.0, little-endian */
#define TKX_SOFH_LEN 6
#define TKX_HDR_LEN 8
#define TKX_CREDENTIAL_LEN 32 /* HMAC-SHA256 */
#define TKX_AUTH_KEY_LEN 16   /* SipHash-2-4 key: one per session and direction */
#define TKX_AUTH_MAC_LEN 8    /* SipHash-2-4 output */
#define TKX_AUTH_LEN 24       /* a DatagramAuth message: header + counter + MAC */
#define TKX_MAX_MSG_LEN 128   /* header + largest block; a frame above is oversized */
#define TKX_NULL_PRICE INT64_MIN
#define TKX_MD_SESSION_LEN 10
#define TKX_MD_HDR_LEN 20
#define TKX_MD_HEARTBEAT 0u
#define TKX_MD_END_OF_SESSION 0xFFFFu
#define TKX_MAX_DGRAM 1472 /* largest UDP payload tokex sends or accepts (1500 MTU) */

/* Default ports (configuration may change them). */
#define TKX_PORT_ORDER_UDP 7411 /* order entry, UDP */
#define TKX_PORT_ORDER_TCP 7412 /* order entry, TCP via the io_uring gateway */
#define TKX_PORT_MD 7413        /* market data stream (multicast group from config) */
#define TKX_PORT_MD_REQ 7414    /* market data gap re-request (unicast) */

/* SBE message header: precedes every block. */
struct tkx_hdr {
	uint16_t block_length;
	uint16_t template_id;
	uint16_t schema_id;
	uint16_t version;
};

/* Template ids. 1-99 session layer, 100-199 client->exchange application,
 * 200-299 exchange->client application, 300-399 market data. */
enum tkx_template {
	TKX_NEGOTIATE = 1,
	TKX_NEGOTIATION_RESPONSE = 2,
	TKX_NEGOTIATION_REJECT = 3,
	TKX_ESTABLISH = 4,
	TKX_ESTABLISHMENT_ACK = 5,
	TKX_ESTABLISHMENT_REJECT = 6,
	TKX_SEQUENCE = 7,
	TKX_NOT_APPLIED = 8,
	TKX_RETRANSMIT_REQUEST = 9,
	TKX_RETRANSMISSION = 10,
	TKX_RETRANSMIT_REJECT = 11,
	TKX_TERMINATE = 12,
	TKX_DATAGRAM_AUTH = 13,

	TKX_NEW_ORDER = 100,
	TKX_CANCEL_ORDER = 101,
	TKX_MODIFY_ORDER = 102,
	TKX_MASS_CANCEL = 103,

	TKX_EXEC_ACK = 200,
	TKX_EXEC_REJECT = 201,
	TKX_FILL = 202,
	TKX_CANCELLED = 203,
	TKX_MODIFY_ACK = 204,
	TKX_MASS_CANCEL_ACK = 205,
	TKX_BUSINESS_REJECT = 206,
	TKX_STOP_ELECTED = 207,

	TKX_MD_TOP_OF_BOOK = 300,
	TKX_MD_TRADE = 301,
	TKX_MD_CONTRACT_STATUS = 302,
	TKX_MD_SNAPSHOT = 303,
	TKX_MD_GAP_REJECT = 304,
	TKX_MD_INSTRUMENT = 305,  /* InstrumentDefinition (version 3) */
	TKX_MD_ORDER = 306,       /* OrderBook: market by order (version 3) */
	TKX_MD_DEPTH = 307,       /* Depth: market by price (version 3) */
};

enum tkx_side { TKX_SIDE_BUY = 1, TKX_SIDE_SELL = 2 };
/* Trade.aggressor_side: the incoming order's side, or NONE for a trade nobody aggressed
 * (the call auction's uncross: both orders were resting). Never 0 in tkx_side fields. */
enum tkx_aggressor { TKX_AGGRESSOR_NONE = 0, TKX_AGGRESSOR_BUY = 1, TKX_AGGRESSOR_SELL = 2 };
enum tkx_tif {
	TKX_TIF_GTC = 1,  /* rests until filled, cancelled or the contract expires */
	TKX_TIF_IOC = 2,
	TKX_TIF_FOK = 3,
	TKX_TIF_POST = 4,
	TKX_TIF_DAY = 5,  /* rests like GTC until the end of its trading day (Cancelled DAY_END) */
};
#define TKX_ICE_MAX_SLICES 1000u /* an iceberg's qty is at most show_qty x this (protocol 5.8) */
enum tkx_mass_scope { TKX_SCOPE_SESSION = 1, TKX_SCOPE_ACCOUNT = 2 };

/* ExecReject.reason */
enum tkx_reject_reason {
	TKX_REJ_INVALID_PRICE = 1,     /* price <= 0 or null */
	TKX_REJ_INVALID_QTY = 2,       /* qty == 0 */
	TKX_REJ_INVALID_SIDE = 3,
	TKX_REJ_INVALID_TIF = 4,
	TKX_REJ_UNKNOWN_CONTRACT = 5,
	TKX_REJ_CLORDID_REUSED = 6,    /* cl_ord_id not above the session's last: not executed */
	TKX_REJ_UNKNOWN_ORDER = 7,     /* cancel/modify of an order that is not live */
	TKX_REJ_POST_CROSS = 8,        /* post-only order would cross */
	TKX_REJ_TICK = 9,              /* price off the contract's tick grid */
	TKX_REJ_PRICE_BAND = 10,       /* outside the daily price limits */
	TKX_REJ_MAX_QTY = 11,          /* above the maximum order quantity */
	TKX_REJ_BOOK_FULL = 12,        /* the contract's order pool is full */
	TKX_REJ_BUSY = 13,             /* matching core's ring full: nothing was done */
	TKX_REJ_PHASE = 14,            /* contract not accepting this request in its phase */
	TKX_REJ_HALTED = 15,
	TKX_REJ_THROTTLED = 16,        /* over the session's message rate */
	TKX_REJ_KILL_SWITCH = 17,      /* account's kill switch is on */
	TKX_REJ_POSITION_LIMIT = 18,
	TKX_REJ_DUP_ORDER = 19,        /* order id already live (should not happen on the wire) */
	TKX_REJ_NOT_OWNER = 20,        /* order belongs to another firm */
	TKX_REJ_STORAGE = 21,          /* the journal cannot keep it: not accepted */
	TKX_REJ_INVALID_SCOPE = 22,    /* mass cancel scope/side invalid */
	TKX_REJ_INVALID_ACCOUNT = 23,
	TKX_REJ_INVALID_SHOW = 24,     /* show_qty: not below qty, above qty's limit of slices
				        * (TKX_ICE_MAX_SLICES), with tif IOC/FOK, or with a stop */
	TKX_REJ_INVALID_STOP = 25,     /* stop_price < 0, or with tif POST */
};

/* Cancelled.reason */
enum tkx_cancel_reason {
	TKX_CXL_CLIENT = 1,     /* CancelOrder, or Modify to zero */
	TKX_CXL_IOC = 2,        /* IOC remainder expired */
	TKX_CXL_FOK = 3,        /* FOK could not fill completely */
	TKX_CXL_STP = 4,        /* self-trade prevention */
	TKX_CXL_MASS = 5,       /* MassCancel */
	TKX_CXL_DISCONNECT = 6, /* cancel-on-disconnect */
	TKX_CXL_KILL_SWITCH = 7,
	TKX_CXL_EXPIRY = 8,     /* contract expired or delisted */
	TKX_CXL_OPERATOR = 9,   /* operator action */
	TKX_CXL_DAY_END = 10,   /* a DAY order at the end of its trading day (the close) */
	TKX_CXL_ELECTED_REFUSED = 11, /* an elected stop order could not enter the book: IOC or
				       * FOK during an auction, or its limit price outside the
				       * band that moved since it was held */
};

/* NegotiationReject / EstablishmentReject / RetransmitReject reason */
enum tkx_session_reject {
	TKX_SREJ_UNKNOWN_FIRM = 1,
	TKX_SREJ_BAD_CREDENTIALS = 2,
	TKX_SREJ_STALE_TIMESTAMP = 3,
	TKX_SREJ_SESSION_IN_USE = 4,
	TKX_SREJ_NOT_NEGOTIATED = 5,
	TKX_SREJ_BAD_KEEPALIVE = 6,
	TKX_SREJ_NOT_ESTABLISHED = 7,
	TKX_SREJ_OUT_OF_RANGE = 8,     /* retransmit range not retained / beyond last sent */
	TKX_SREJ_TOO_MANY = 9,         /* retransmit count above the limit */
	TKX_SREJ_UNSPECIFIED = 10,
	TKX_SREJ_SESSION_LIMIT = 11,   /* the firm holds its limit of sessions (protocol 4.2) */
};

/* Terminate.reason */
enum tkx_terminate_reason {
	TKX_TERM_FINISHED = 0,
	TKX_TERM_UNSPECIFIED = 1,
	TKX_TERM_KEEPALIVE_TIMEOUT = 2,
	TKX_TERM_PROTOCOL_ERROR = 3,
	TKX_TERM_THROTTLE = 4,        /* flood continued past the throttle's rejects */
	TKX_TERM_SHUTDOWN = 5,
	TKX_TERM_SEQ_BELOW_EXPECTED = 6,
};

/* BusinessReject.reason */
enum tkx_breject_reason {
	TKX_BREJ_NOT_ESTABLISHED = 1, /* application message before Establish */
	TKX_BREJ_WRONG_DIRECTION = 2, /* an exchange->client template sent by a client */
	TKX_BREJ_INVALID_FIELD = 3,   /* a reserved field not zero, an enum out of range */
	TKX_BREJ_UNSUPPORTED = 4,
};

/* ContractStatus.phase: the contract lifecycle (control/ owns the transitions). */
enum tkx_phase {
	TKX_PHASE_DEFINED = 0,
	TKX_PHASE_LISTED = 1,
	TKX_PHASE_PRE_OPEN = 2,   /* call auction order entry: orders accepted, no matching */
	TKX_PHASE_AUCTION = 3,    /* uncross in progress */
	TKX_PHASE_CONTINUOUS = 4,
	TKX_PHASE_BREAK = 5,      /* between sessions */
	TKX_PHASE_HALTED = 6,     /* operator halt or volatility interruption */
	TKX_PHASE_CLOSED = 7,
	TKX_PHASE_SETTLED = 8,    /* daily settlement done */
	TKX_PHASE_EXPIRED = 9,
	TKX_PHASE_FINAL_SETTLED = 10,
	TKX_PHASE_DELISTED = 11,
};

/* ---- Session layer (FIXP-style) ---------------------------------------------------- */

/* 1 client->exchange. credentials = HMAC-SHA256(firm secret, header + bytes [0, 24)). */
struct tkx_negotiate {
	uint64_t session_id;
	uint64_t timestamp; /* ns since the Unix epoch, client clock */
	uint32_t firm_id;
	uint32_t reserved;
	uint8_t credentials[TKX_CREDENTIAL_LEN];
};

/* 2 exchange->client */
struct tkx_negotiation_response {
	uint64_t session_id;
	uint64_t request_timestamp;
	uint32_t firm_id;
	uint32_t reserved;
};

/* 3 exchange->client */
struct tkx_negotiation_reject {
	uint64_t session_id;
	uint64_t request_timestamp;
	uint16_t reason; /* tkx_session_reject */
	uint16_t reserved1;
	uint32_t reserved2;
};

/* 4 client->exchange. credentials = HMAC-SHA256(firm secret, header + bytes [0, 32)). */
struct tkx_establish {
	uint64_t session_id;
	uint64_t timestamp;
	uint64_t next_seq_no;  /* sequence of the client's next application message */
	uint32_t keepalive_ms; /* client promises a message at least this often */
	uint8_t cancel_on_disconnect; /* 1: cancel this session's orders when it dies */
	uint8_t reserved[3];
	uint8_t credentials[TKX_CREDENTIAL_LEN];
};

/* 5 exchange->client */
struct tkx_establishment_ack {
	uint64_t session_id;
	uint64_t request_timestamp;
	uint64_t next_seq_no;     /* exchange's next outbound application sequence */
	uint64_t expected_seq_no; /* next inbound sequence the exchange will apply */
	uint32_t keepalive_ms;    /* exchange's heartbeat interval */
	uint32_t reserved;
};

/* 6 exchange->client */
struct tkx_establishment_reject {
	uint64_t session_id;
	uint64_t request_timestamp;
	uint16_t reason; /* tkx_session_reject */
	uint16_t reserved1;
	uint32_t reserved2;
};

/* 7 both ways: heartbeat, and on UDP the first message of a datagram with app messages */
struct tkx_sequence {
	uint64_t next_seq_no;
};

/* 8 exchange->client: inbound messages [from_seq_no, from_seq_no + count) were lost */
struct tkx_not_applied {
	uint64_t from_seq_no;
	uint32_t count;
	uint32_t reserved;
};

/* 9 client->exchange */
struct tkx_retransmit_request {
	uint64_t session_id;
	uint64_t timestamp;
	uint64_t from_seq_no;
	uint32_t count;
	uint32_t reserved;
};

/* 10 exchange->client: precedes `count` resent messages starting at next_seq_no */
struct tkx_retransmission {
	uint64_t session_id;
	uint64_t request_timestamp;
	uint64_t next_seq_no;
	uint32_t count;
	uint32_t reserved;
};

/* 11 exchange->client */
struct tkx_retransmit_reject {
	uint64_t session_id;
	uint64_t request_timestamp;
	uint16_t reason; /* tkx_session_reject */
	uint16_t reserved1;
	uint32_t reserved2;
};

/* 12 both ways */
struct tkx_terminate {
	uint64_t session_id;
	uint16_t reason; /* tkx_terminate_reason */
	uint16_t reserved1;
	uint32_t reserved2;
};

/* 13 both ways, UDP only: the last message of every datagram of a session. The MAC is
 * SipHash-2-4 under the sender's direction key over the datagram's bytes up to `mac`
 * (this message's header and counter included); counter strictly increases per key. */
struct tkx_datagram_auth {
	uint64_t counter;
	uint8_t mac[TKX_AUTH_MAC_LEN];
};

/* ---- Application: client -> exchange ----------------------------------------------- */

/* 100 */
struct tkx_new_order {
	uint64_t cl_ord_id; /* strictly increasing per session */
	int64_t price;      /* the limit price (a stop order's, once elected) */
	uint32_t qty;
	uint32_t contract_id;
	uint32_t account;   /* self-trade prevention and position limits; 0 = none */
	uint8_t side;       /* tkx_side */
	uint8_t tif;        /* tkx_tif */
	uint16_t reserved;
	int64_t stop_price; /* > 0: a stop order, held until a trade at or through it
			     * (buy: >= stop_price, sell: <= stop_price); 0 = none */
	uint32_t show_qty;  /* > 0: an iceberg showing at most this much; 0 = none */
	uint32_t reserved2;
};

/* 101 */
struct tkx_cancel_order {
	uint64_t cl_ord_id;
	uint64_t order_id; /* exchange order id from the ExecAck */
	uint32_t contract_id;
	uint32_t reserved;
};

/* 102: new price and/or quantity (qty = new remaining quantity) */
struct tkx_modify_order {
	uint64_t cl_ord_id;
	uint64_t order_id;
	int64_t price;
	uint32_t qty;
	uint32_t contract_id;
};

/* 103 */
struct tkx_mass_cancel {
	uint64_t cl_ord_id;
	uint32_t contract_id; /* 0 = every contract */
	uint32_t account;     /* scope ACCOUNT: that account of the firm */
	uint8_t scope;        /* tkx_mass_scope */
	uint8_t side;         /* 0 = both, else tkx_side */
	uint8_t reserved[6];
};

/* ---- Application: exchange -> client ----------------------------------------------- */

/* 200 Ack: the order is live (or about to trade) */
struct tkx_exec_ack {
	uint64_t cl_ord_id;
	uint64_t order_id;
	int64_t price;
	uint64_t transact_time; /* ns since the Unix epoch */
	uint32_t qty;
	uint32_t contract_id;
	uint8_t side;
	uint8_t tif;
	uint16_t reserved1;
	uint32_t reserved2;
};

/* 201 Reject: the request did nothing */
struct tkx_exec_reject {
	uint64_t cl_ord_id;
	uint64_t transact_time;
	uint64_t order_id;        /* the target of a cancel/modify; 0 for a new order */
	uint32_t contract_id;
	uint16_t reason;          /* tkx_reject_reason */
	uint16_t ref_template_id; /* the request's template */
};

/* 202 Fill: one per order per trade */
struct tkx_fill {
	uint64_t cl_ord_id; /* the filled order's */
	uint64_t order_id;
	uint64_t trade_id;  /* unique per contract; same on both sides' fills */
	int64_t price;
	uint64_t transact_time;
	uint32_t qty;        /* this fill */
	uint32_t leaves_qty; /* still working after it */
	uint32_t contract_id;
	uint8_t side;
	uint8_t aggressor; /* 1 if this order was the aggressor */
	uint16_t reserved;
};

/* 203 Cancelled: the order left the book without trading `qty` */
struct tkx_cancelled {
	uint64_t cl_ord_id;      /* the request that caused it; the order's own if unsolicited */
	uint64_t order_id;
	uint64_t transact_time;
	uint64_t orig_cl_ord_id; /* the order's cl_ord_id */
	uint32_t qty;
	uint32_t contract_id;
	uint8_t reason;          /* tkx_cancel_reason */
	uint8_t side;
	uint16_t reserved1;
	uint32_t reserved2;
};

/* 204 */
struct tkx_modify_ack {
	uint64_t cl_ord_id;
	uint64_t order_id;
	int64_t price;
	uint64_t transact_time;
	uint32_t qty; /* new remaining quantity */
	uint32_t contract_id;
	uint8_t side;
	uint8_t reserved1[3];
	uint32_t reserved2;
};

/* 205 */
struct tkx_mass_cancel_ack {
	uint64_t cl_ord_id;
	uint64_t transact_time;
	uint32_t count; /* orders cancelled */
	uint32_t contract_id;
	uint32_t account;
	uint8_t scope;
	uint8_t side;
	uint16_t reserved;
};

/* 206: a well-formed message the session cannot process */
struct tkx_business_reject {
	uint64_t ref_seq_no;
	uint64_t transact_time;
	uint16_t ref_template_id;
	uint16_t reason; /* tkx_breject_reason */
	uint32_t reserved;
};

/* 207 StopElected: a held stop order was elected (a trade reached its stop price) and
 * now enters the book as a plain limit order: its Fills and Cancelled follow. */
struct tkx_stop_elected {
	uint64_t cl_ord_id; /* the order's */
	uint64_t order_id;
	int64_t price;      /* its limit price */
	uint64_t transact_time;
	uint32_t qty;       /* its quantity, all of it still working */
	uint32_t contract_id;
	uint8_t side;
	uint8_t reserved1[3];
	uint32_t reserved2;
};

/* ---- Market data ------------------------------------------------------------------- */

/* MoldUDP64-style packet header (20 bytes, packed: sequence is unaligned on purpose,
 * as in MoldUDP64; read it with memcpy). */
struct tkx_md_hdr {
	char session[TKX_MD_SESSION_LEN]; /* ASCII, space padded */
	uint64_t sequence;                /* of the first message in the packet */
	uint16_t count;                   /* 0 heartbeat, 0xFFFF end of session */
} __attribute__((packed));

/* 300 */
struct tkx_md_top_of_book {
	uint64_t transact_time;
	int64_t bid_price; /* TKX_NULL_PRICE when the side is empty */
	int64_t ask_price;
	uint64_t bid_qty;
	uint64_t ask_qty;
	uint32_t contract_id;
	uint32_t reserved;
};

/* 301 */
struct tkx_md_trade {
	uint64_t transact_time;
	uint64_t trade_id;
	int64_t price;
	uint32_t qty;
	uint32_t contract_id;
	uint8_t aggressor_side; /* tkx_aggressor: the incoming order's side; NONE in an uncross */
	uint8_t reserved1[3];
	uint32_t reserved2;
};

/* 302 */
struct tkx_md_contract_status {
	uint64_t transact_time;
	uint32_t contract_id;
	uint8_t phase;  /* tkx_phase */
	uint8_t reserved1;
	uint16_t reserved2;
	int64_t price;  /* settlement price when phase is SETTLED/FINAL_SETTLED, else null */
};

/* 303: periodic per-contract snapshot; `as_of_seq` is the stream sequence it reflects */
struct tkx_md_snapshot {
	uint64_t transact_time;
	uint64_t as_of_seq;
	int64_t bid_price;
	int64_t ask_price;
	uint64_t bid_qty;
	uint64_t ask_qty;
	int64_t last_price;
	uint64_t volume; /* lots traded today */
	uint32_t contract_id;
	uint8_t phase;
	uint8_t reserved1[3];
};

/* 304: answer to a re-request for sequences no longer retained */
struct tkx_md_gap_reject {
	uint64_t first_available_seq;
	uint64_t requested_seq;
};

/* 305: a contract's definition (docs/protocol.md 6.4): at start, in every Snapshot round
 * (after the contract's Snapshot) and whenever a field changes (limits, settlement,
 * phase, listing). Complete: it replaces the previous one for its contract. */
enum tkx_settle_method {
	TKX_SETTLE_CASH_INDEX = 1, /* cash, at the mean of the index fixings (the final one) */
};
#define TKX_SYMBOL_LEN 12
#define TKX_CURRENCY_LEN 3
struct tkx_md_instrument {
	int64_t tick;          /* price units (0.0001) per tick */
	int64_t limit_lo;      /* today's lower price limit; null when none is set */
	int64_t limit_hi;      /* today's upper price limit; null when none is set */
	int64_t prev_settle;   /* the previous daily settlement (today's reference); null */
	uint32_t contract_id;
	uint32_t max_qty;      /* the largest order quantity accepted, lots */
	uint32_t first_day;    /* first trading day, YYYYMMDD; 0 = not known */
	uint32_t last_day;     /* last trading day, YYYYMMDD; 0 = none */
	uint32_t unit;         /* contract unit: units of the underlying (tokens) per lot */
	char currency[TKX_CURRENCY_LEN]; /* ISO 4217 of prices, e.g. "CNY" */
	uint8_t phase;         /* tkx_phase */
	uint8_t settle_method; /* tkx_settle_method */
	uint8_t reserved[3];
	char symbol[TKX_SYMBOL_LEN]; /* ASCII, space padded */
};

/* 306 OrderBook: one visible order changed (market by order, docs/protocol.md 6.5). */
enum tkx_md_action {
	TKX_ACT_ADD = 1,      /* the order joined its level at priority */
	TKX_ACT_MODIFY = 2,   /* its visible quantity changed in place (priority the same),
			       * or an iceberg refilled (priority new: the back of the level) */
	TKX_ACT_DELETE = 3,   /* it left the book without trading */
	TKX_ACT_EXECUTE = 4,  /* it traded exec_qty; qty is what stays visible (0: gone) */
	TKX_ACT_SNAPSHOT = 5, /* a resting order in a Snapshot round (after its Snapshot) */
};
struct tkx_md_order {
	uint64_t transact_time;
	uint64_t order_id;
	int64_t price;
	uint64_t priority;  /* the order's place in its level: lower goes first */
	uint64_t trade_id;  /* EXECUTE: the Trade's trade_id; else 0 */
	uint32_t qty;       /* visible quantity after the change; 0 after DELETE, and after
			     * an EXECUTE that filled it */
	uint32_t exec_qty;  /* EXECUTE: lots traded; else 0 */
	uint32_t contract_id;
	uint8_t action;     /* tkx_md_action */
	uint8_t side;       /* tkx_side */
	uint16_t reserved;
};

/* 307 Depth: level `level` (1 = best) of a side now holds price/qty (market by price,
 * docs/protocol.md 6.6); a null price = the level is empty. */
#define TKX_DEPTH_FLAG_SNAPSHOT 1u /* part of a Snapshot round, not a change */
struct tkx_md_depth {
	uint64_t transact_time;
	int64_t price;     /* null: no level there */
	uint64_t qty;      /* displayed quantity at the price (icebergs' visible parts) */
	uint32_t contract_id;
	uint8_t level;     /* 1 .. depth */
	uint8_t side;      /* tkx_side */
	uint8_t flags;     /* TKX_DEPTH_FLAG_* */
	uint8_t depth;     /* levels per side the venue publishes */
	uint64_t reserved;
};

/* Layout locks: a change here is a protocol change (bump TKX_SCHEMA_VERSION). */
#define TKX_ASSERT_SIZE(t, n) TKX_STATIC_ASSERT(sizeof(struct t) == (n), #t " size")
#define TKX_ASSERT_OFF(t, f, n) TKX_STATIC_ASSERT(offsetof(struct t, f) == (n), #t "." #f)
TKX_ASSERT_SIZE(tkx_hdr, 8);
TKX_ASSERT_SIZE(tkx_negotiate, 56);
TKX_ASSERT_OFF(tkx_negotiate, credentials, 24);
TKX_ASSERT_SIZE(tkx_negotiation_response, 24);
TKX_ASSERT_SIZE(tkx_negotiation_reject, 24);
TKX_ASSERT_OFF(tkx_negotiation_reject, reason, 16);
TKX_ASSERT_SIZE(tkx_establish, 64);
TKX_ASSERT_OFF(tkx_establish, keepalive_ms, 24);
TKX_ASSERT_OFF(tkx_establish, cancel_on_disconnect, 28);
TKX_ASSERT_OFF(tkx_establish, credentials, 32);
TKX_ASSERT_SIZE(tkx_establishment_ack, 40);
TKX_ASSERT_OFF(tkx_establishment_ack, keepalive_ms, 32);
TKX_ASSERT_SIZE(tkx_establishment_reject, 24);
TKX_ASSERT_SIZE(tkx_sequence, 8);
TKX_ASSERT_SIZE(tkx_not_applied, 16);
TKX_ASSERT_SIZE(tkx_retransmit_request, 32);
TKX_ASSERT_OFF(tkx_retransmit_request, count, 24);
TKX_ASSERT_SIZE(tkx_retransmission, 32);
TKX_ASSERT_SIZE(tkx_retransmit_reject, 24);
TKX_ASSERT_SIZE(tkx_terminate, 16);
TKX_ASSERT_OFF(tkx_terminate, reason, 8);
TKX_ASSERT_SIZE(tkx_datagram_auth, 16);
TKX_ASSERT_OFF(tkx_datagram_auth, mac, 8);
TKX_STATIC_ASSERT(TKX_HDR_LEN + sizeof(struct tkx_datagram_auth) == TKX_AUTH_LEN, "TKX_AUTH_LEN");
TKX_ASSERT_SIZE(tkx_new_order, 48);
TKX_ASSERT_OFF(tkx_new_order, price, 8);
TKX_ASSERT_OFF(tkx_new_order, qty, 16);
TKX_ASSERT_OFF(tkx_new_order, contract_id, 20);
TKX_ASSERT_OFF(tkx_new_order, account, 24);
TKX_ASSERT_OFF(tkx_new_order, side, 28);
TKX_ASSERT_OFF(tkx_new_order, tif, 29);
TKX_ASSERT_OFF(tkx_new_order, stop_price, 32);
TKX_ASSERT_OFF(tkx_new_order, show_qty, 40);
TKX_ASSERT_SIZE(tkx_cancel_order, 24);
TKX_ASSERT_SIZE(tkx_modify_order, 32);
TKX_ASSERT_OFF(tkx_modify_order, qty, 24);
TKX_ASSERT_SIZE(tkx_mass_cancel, 24);
TKX_ASSERT_OFF(tkx_mass_cancel, scope, 16);
TKX_ASSERT_SIZE(tkx_exec_ack, 48);
TKX_ASSERT_OFF(tkx_exec_ack, qty, 32);
TKX_ASSERT_OFF(tkx_exec_ack, side, 40);
TKX_ASSERT_SIZE(tkx_exec_reject, 32);
TKX_ASSERT_OFF(tkx_exec_reject, reason, 28);
TKX_ASSERT_SIZE(tkx_fill, 56);
TKX_ASSERT_OFF(tkx_fill, qty, 40);
TKX_ASSERT_OFF(tkx_fill, contract_id, 48);
TKX_ASSERT_OFF(tkx_fill, aggressor, 53);
TKX_ASSERT_SIZE(tkx_cancelled, 48);
TKX_ASSERT_OFF(tkx_cancelled, reason, 40);
TKX_ASSERT_SIZE(tkx_modify_ack, 48);
TKX_ASSERT_SIZE(tkx_mass_cancel_ack, 32);
TKX_ASSERT_OFF(tkx_mass_cancel_ack, scope, 28);
TKX_ASSERT_SIZE(tkx_business_reject, 24);
TKX_ASSERT_SIZE(tkx_stop_elected, 48);
TKX_ASSERT_OFF(tkx_stop_elected, qty, 32);
TKX_ASSERT_OFF(tkx_stop_elected, side, 40);
TKX_ASSERT_SIZE(tkx_md_hdr, 20);
TKX_ASSERT_OFF(tkx_md_hdr, sequence, 10);
TKX_ASSERT_OFF(tkx_md_hdr, count, 18);
TKX_ASSERT_SIZE(tkx_md_top_of_book, 48);
TKX_ASSERT_SIZE(tkx_md_trade, 40);
TKX_ASSERT_SIZE(tkx_md_contract_status, 24);
TKX_ASSERT_SIZE(tkx_md_snapshot, 72);
TKX_ASSERT_OFF(tkx_md_snapshot, contract_id, 64);
TKX_ASSERT_SIZE(tkx_md_gap_reject, 16);
TKX_ASSERT_SIZE(tkx_md_instrument, 72);
TKX_ASSERT_OFF(tkx_md_instrument, contract_id, 32);
TKX_ASSERT_OFF(tkx_md_instrument, unit, 48);
TKX_ASSERT_OFF(tkx_md_instrument, currency, 52);
TKX_ASSERT_OFF(tkx_md_instrument, phase, 55);
TKX_ASSERT_OFF(tkx_md_instrument, settle_method, 56);
TKX_ASSERT_OFF(tkx_md_instrument, symbol, 60);
TKX_ASSERT_SIZE(tkx_md_order, 56);
TKX_ASSERT_OFF(tkx_md_order, qty, 40);
TKX_ASSERT_OFF(tkx_md_order, contract_id, 48);
TKX_ASSERT_OFF(tkx_md_order, action, 52);
TKX_ASSERT_SIZE(tkx_md_depth, 40);
TKX_ASSERT_OFF(tkx_md_depth, contract_id, 24);
TKX_ASSERT_OFF(tkx_md_depth, level, 28);
TKX_ASSERT_OFF(tkx_md_depth, depth, 31);

#ifdef __cplusplus
}
#endif

#endif /* TOKEX_PROTO_H */
