#!/usr/bin/env bash
# test_client_kit.sh BUILD_DIR SRC_DIR [CFLAGS...]: what a member gets from `cmake --install`
# (staged with DESTDIR), used as a member would use it:
#   - libtokex-client.so.0 with that soname, exporting only tkx_ symbols, and the
#     libtokex-client.so link; tokex/price.h beside the other headers;
#   - `pkg-config --cflags --libs tokex-client` resolves in the staged root;
#   - the example (installed as share/doc/tokex/examples/tokex-client-example.c) and the
#     C++ test program compile and link against the staged headers and library alone,
#     with the flags pkg-config gives (CFLAGS: the build's sanitizer flags, if any);
#     the C++ program runs on the staged library.
set -u
BUILD=${1:?usage: test_client_kit.sh BUILD_DIR SRC_DIR [CFLAGS...]}
SRC=${2:?usage: test_client_kit.sh BUILD_DIR SRC_DIR [CFLAGS...]}
shift 2
EXTRA=("$@")
fail() { echo "FAIL [client kit]: $*"; exit 1; }
for t in cmake pkg-config cc c++ readelf nm; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
R=$(mktemp -d /tmp/tkx-kit.XXXXXX) || fail "no folder in /tmp"
trap 'rm -rf "$R"' EXIT
DESTDIR=$R cmake --install "$BUILD" >"$R.log" 2>&1 || { cat "$R.log"; rm -f "$R.log"; fail "cmake --install"; }
rm -f "$R.log"
LIB=$(ls "$R"/usr/lib/*/libtokex-client.so.0 2>/dev/null | head -n 1)
[ -n "$LIB" ] || fail "no libtokex-client.so.0 installed"
LIBDIR=$(dirname "$LIB")
[ -e "$LIBDIR/libtokex-client.so" ] || fail "no libtokex-client.so link for -ltokex-client"
so=$(readelf -d "$LIB" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$so" = libtokex-client.so.0 ] || fail "soname '$so', want libtokex-client.so.0"
others=$(nm -D --defined-only "$LIB" | awk '$2 ~ /^[TDBR]$/ && $3 !~ /^tkx_/ { print $3 }')
[ -z "$others" ] || fail "exports beyond tkx_: $(echo $others | head -c 300)"
nm -D --defined-only "$LIB" | grep -Eq ' T tkx_price_parse(@@TOKEX_CLIENT_0)?$' || fail "tkx_price_parse not exported"
[ -f "$R/usr/include/tokex/price.h" ] || fail "tokex/price.h not installed"
EXAMPLE=$R/usr/share/doc/tokex/examples/tokex-client-example.c
[ -f "$EXAMPLE" ] || fail "the example's source is not installed"

export PKG_CONFIG_PATH=$LIBDIR/pkgconfig PKG_CONFIG_SYSROOT_DIR=$R
flags=$(pkg-config --cflags --libs tokex-client) || fail "pkg-config tokex-client does not resolve"
case " $flags " in
*" -ltokex-client "*) ;;
*) fail "pkg-config tokex-client: '$flags' has no -ltokex-client" ;;
esac
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror "${EXTRA[@]}" "$EXAMPLE" $flags -o "$R/example" ||
	fail "the installed example does not build against the installed kit"
# shellcheck disable=SC2086
c++ -std=c++17 -Wall -Wextra -Wshadow -Werror "${EXTRA[@]}" "$SRC/tests/client/test_cxx.cpp" $flags \
	-o "$R/test_cxx" || fail "a C++ program does not build against the installed kit"
LD_LIBRARY_PATH=$LIBDIR "$R/test_cxx" || fail "the C++ program failed on the installed library"
LD_LIBRARY_PATH=$LIBDIR "$R/example" 2>"$R/usage"
[ $? = 2 ] && grep -q '^usage: ' "$R/usage" || fail "the installed example does not run"
echo "PASS [client kit]: $so (tkx_ only), pkg-config tokex-client, the example and a C++ program built on the installed kit"
