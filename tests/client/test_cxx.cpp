// tests/client/test_cxx.cpp - the public headers from C++ (issue 16's client kit): every
// header of include/tokex compiles as C++17 with the project's warnings as errors, their
// layout checks hold there too, and a C++ program links libtokex-client.so and calls it
// (C linkage): price text, a codec round trip, the client's configuration defaults.
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "tokex/client.h"
#include "tokex/codec.h"
#include "tokex/offload.h"
#include "tokex/price.h"
#include "tokex/proto.h"
#include "tokex/venue.h"
#include "tokex/version.h"

// The same sizes the C side locks, seen by the C++ compiler.
static_assert(sizeof(tkx_new_order) == 48 && offsetof(tkx_new_order, contract_id) == 20,
	      "NewOrder block as the wire (proto.h) lays it");
static_assert(sizeof(tkx_off_regs) == 8, "offload doorbells: two 32-bit registers");
static_assert(sizeof(tkx_msg) == 8 + TKX_MAX_BLOCK_LEN, "tkx_msg");

static int failures;

static void check(bool ok, const char *what)
{
	if (!ok) {
		std::fprintf(stderr, "FAIL: %s\n", what);
		failures++;
	}
}

int main()
{
	int64_t units = 0;
	check(tkx_price_parse("2.5010", &units) == 0 && units == 25010, "tkx_price_parse");
	char text[TKX_PRICE_TEXT_MAX];
	check(tkx_price_format(-1, text, sizeof(text)) == 7 && std::strcmp(text, "-0.0001") == 0,
	      "tkx_price_format");
	check(tkx_price_parse("2.50101", &units) == -EINVAL, "a fifth decimal refused");

	// A NewOrder through the codec and back.
	unsigned char buf[TKX_MAX_MSG_LEN];
	tkx_msg in;
	std::memset(&in, 0, sizeof(in));
	in.template_id = TKX_NEW_ORDER;
	in.new_order.cl_ord_id = 7;
	in.new_order.price = units;
	in.new_order.qty = 3;
	in.new_order.contract_id = 202701;
	in.new_order.side = TKX_SIDE_BUY;
	in.new_order.tif = TKX_TIF_GTC;
	int n = tkx_encode(buf, sizeof(buf), &in);
	check(n > 0, "tkx_encode");
	tkx_msg out;
	check(n > 0 && tkx_decode(buf, (size_t)n, &out) == n, "tkx_decode");
	check(out.template_id == TKX_NEW_ORDER && out.new_order.cl_ord_id == 7 &&
		      out.new_order.qty == 3 && out.new_order.contract_id == 202701,
	      "round trip");
	check(std::strcmp(tkx_template_name(TKX_NEW_ORDER), "NewOrder") == 0, "template name");

	tkx_client_cfg cfg;
	tkx_client_cfg_default(&cfg);
	check(cfg.version == TKX_CLIENT_API_VERSION, "cfg version");
	check(tkx_client_parse_addr("127.0.0.1:7412", TKX_PORT_ORDER_TCP, &cfg.exchange) == 0,
	      "parse_addr");
	if (failures == 0)
		std::printf("ok: the public headers compile as C++ and libtokex-client links\n");
	return failures ? 1 : 0;
}
