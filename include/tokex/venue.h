/*
 * tokex/venue.h - the venue parameters' built-in values: the one set of defaults that
 * tokexd runs with and that docs/protocol.md section 11 publishes to members.
 *
 * Role: read at start-up only. The configuration (control/cp_config.c) takes its
 * defaults from here and tokexd hands every one of them to the session layer and the
 * market-data publisher; ss_params_default() and md_pub_params_default() start from the
 * same values, so a library embedded elsewhere behaves as the appliance does. A test
 * (tests/config/test_venue_doc.c) parses section 11 and compares it with the
 * configuration's defaults: change a value here and the table there together.
 */
#ifndef TOKEX_VENUE_H
#define TOKEX_VENUE_H

/* Order entry sessions (docs/protocol.md section 4). */
#define TKX_VENUE_MAX_SESSIONS 256       /* session table size, per transport */
#define TKX_VENUE_KEEPALIVE_MIN_MS 100   /* Establish.keepalive_ms accepted range */
#define TKX_VENUE_KEEPALIVE_MAX_MS 30000
#define TKX_VENUE_KEEPALIVE_MISSED 3     /* silent intervals before Terminate (fixed) */
#define TKX_VENUE_TS_TOLERANCE_MS 30000  /* Negotiate/Establish timestamp vs the clock */
#define TKX_VENUE_THROTTLE_RATE 1000     /* application messages per second */
#define TKX_VENUE_THROTTLE_BURST 100     /* token-bucket depth */
#define TKX_VENUE_THROTTLE_GRACE 100     /* throttled messages in a second before Terminate */
#define TKX_VENUE_RETRANSMIT_DEPTH 1024  /* outbound messages kept per session */
#define TKX_VENUE_RETRANSMIT_MAX 256     /* messages per RetransmitRequest */
#define TKX_VENUE_LINGER_MS 10000        /* a terminated session is kept at least this */

/* TCP order entry admission (docs/protocol.md section 3.2). */
#define TKX_VENUE_TCP_MAX_CONNS 0          /* connection table; 0 = sessions.max */
#define TKX_VENUE_TCP_MAX_CONNS_PER_IP 32  /* connections from one source address */
#define TKX_VENUE_TCP_NEGOTIATE_MS 2000    /* to show credentials after connecting */

/* Market data (docs/protocol.md section 6). */
#define TKX_VENUE_MD_HEARTBEAT_MS 1000   /* a heartbeat packet after this much silence */
#define TKX_VENUE_MD_SNAPSHOT_MS 1000    /* Snapshot of every contract this often */
#define TKX_VENUE_MD_RETAIN 4096         /* packets kept for gap re-requests */
#define TKX_VENUE_MD_REQUEST_MAX_MSGS 1024 /* messages answered per re-request */
#define TKX_VENUE_MD_REQUEST_MAX_BYTES 1492 /* UDP payload per answer: one full packet (1472)
					      and the 20-byte end marker */
#define TKX_VENUE_MD_REQUEST_RATE 1000000 /* bytes per second per source address */
#define TKX_VENUE_MD_REQUEST_BURST 65536  /* its bucket depth, bytes */
#define TKX_VENUE_MD_REQUEST_GLOBAL_RATE 25000000 /* bytes per second, all sources */
#define TKX_VENUE_MD_REQUEST_SOURCES 8192 /* source addresses tracked */
#define TKX_VENUE_MD_DEPTH 10            /* Depth levels per side (market by price) */
#define TKX_VENUE_MD_ORDERS 1            /* OrderBook messages (market by order): 1 on */
#define TKX_VENUE_MD_BOOK_ORDERS 65536   /* resting orders the order-by-order feed follows */
/* The contracts' terms on InstrumentDefinition (docs/protocol.md 6.4). */
#define TKX_VENUE_UNIT 1000000           /* tokens of the underlying per lot */
#define TKX_VENUE_CURRENCY "CNY"         /* prices' currency (ISO 4217) */

#endif /* TOKEX_VENUE_H */
