#!/usr/bin/env bash
# test_tokexd_example.sh - the client kit's example program (dataplane/client/example.c,
# linked to the shared libtokex-client.so.0) against the real tokexd: firm 1 sells QTY at
# a price inside the first contract's limits (GTC: it rests and waits), firm 2 buys QTY at
# that price; each logs on over TCP, gets its ack and its fill (the same trade id on both
# sides, at the price given as decimal text), logs off cleanly and exits 0. Then an order
# nobody trades with: cancelled at the program's deadline, exit 1.
#
# usage: test_tokexd_example.sh TOKEXD EXAMPLE
# TAP tkxe<net>_<pid>, subnets 198.18.104.0/24 and 198.18.109.0/24 (a lock each); the TCP
# gateway on 127.0.0.1 (e2e_tcp_port). Needs root and /dev/net/tun, else exit 77. Every
# wait is bounded (E2E_WAIT_S, E2E_CLIENT_S: hang bounds, e2e_lib.sh).
set -u
TOKEXD=${1:?usage: test_tokexd_example.sh TOKEXD EXAMPLE}
EX=${2:?usage: test_tokexd_example.sh TOKEXD EXAMPLE}

WORK=
TD_PID=
IFACE=
LOG=
LABEL=example
. "$(cd "$(dirname "$0")" && pwd)/e2e_lib.sh"
e2e_require
[ -x "$TOKEXD" ] || fail "no tokexd at $TOKEXD"
[ -x "$EX" ] || fail "no example program at $EX"
SELLER_PID=
cleanup() {
	[ -n "$SELLER_PID" ] && kill "$SELLER_PID" 2>/dev/null
	e2e_cleanup
}
e2e_traps cleanup

e2e_setup example tkxe "104 109"
e2e_tcp_port
e2e_config "$WORK/tokexd.yaml" rtc "$WORK/ctl.sock" "journal:
  stall_ms: 600000 # a loaded test machine stalls fdatasync; halting is for a dead disk
  dir: $WORK/journal
  durability: sync
$E2E_TCP_YAML"
td_start "$WORK/tokexd.yaml" --tcp "127.0.0.1:$TCPPORT" || fail "tokexd exited at its start: $(tail -n 3 "$LOG.err")"

# The first contract's limits and tick from tokexd's start line; a price on the grid
# between them, as decimal text.
read -r TICK LO HI < <(awk -v c="$C1" '$1 == "tokexd:" && $2 == "contract" && $3 == c {
	for (i = 1; i < NF; i++) {
		if ($i == "tick") t = $(i + 1)
		if ($i == "limits") { lo = $(i + 1); hi = $(i + 2) }
	}
	gsub(/[^0-9]/, "", lo); gsub(/[^0-9]/, "", hi)
	print t, lo, hi; exit }' "$LOG")
[ -n "${HI:-}" ] || fail "no limits for contract $C1 in tokexd's log"
UNITS=$(((LO + HI) / 2 / TICK * TICK))
PRICE=$(printf '%d.%04d' $((UNITS / 10000)) $((UNITS % 10000)))
SECRET1=746f6b65782d64656d6f2d7365637265742d6669726d2d31
SECRET2=746f6b65782d64656d6f2d7365637265742d6669726d2d32
EP=127.0.0.1:$TCPPORT

# Firm 1's sell rests: the program waits for its fill (up to E2E_CLIENT_S).
timeout -k 5 "$E2E_CLIENT_S" "$EX" "$EP" 1 "$SECRET1" "$C1" sell "$PRICE" 3 "$E2E_CLIENT_S" \
	>"$WORK/seller.out" 2>&1 &
SELLER_PID=$!
acked() { grep -q '^acked: ' "$WORK/seller.out" || ! kill -0 "$SELLER_PID" 2>/dev/null; }
wait_until "$E2E_WAIT_S" acked || fail "the seller's order was not acked: $(cat "$WORK/seller.out")"
grep -q '^acked: ' "$WORK/seller.out" || fail "the seller stopped: $(cat "$WORK/seller.out")"

timeout -k 5 "$E2E_CLIENT_S" "$EX" "$EP" 2 "$SECRET2" "$C1" buy "$PRICE" 3 "$E2E_CLIENT_S" \
	>"$WORK/buyer.out" 2>&1
rc=$?
[ $rc = 0 ] || fail "buyer: exit $rc: $(cat "$WORK/buyer.out")"
wait "$SELLER_PID"
rc=$?
SELLER_PID=
[ $rc = 0 ] || fail "seller: exit $rc: $(cat "$WORK/seller.out")"
for who in seller buyer; do
	out=$WORK/$who.out
	for l in '^logged on: session [0-9]+$' '^acked: order [0-9]+, (Buy|Sell) 3 at '"$PRICE"'$' \
		'^fill: 3 at '"$PRICE"' \(trade [0-9]+\), 0 left$' '^filled$' '^logged off$'; do
		grep -Eq "$l" "$out" || fail "$who: no line /$l/: $(cat "$out")"
	done
done
t1=$(sed -n 's/^fill: .*(trade \([0-9]*\)).*/\1/p' "$WORK/seller.out")
t2=$(sed -n 's/^fill: .*(trade \([0-9]*\)).*/\1/p' "$WORK/buyer.out")
[ -n "$t1" ] && [ "$t1" = "$t2" ] || fail "the two fills name different trades: '$t1' and '$t2'"

# Nobody trades with this one: cancelled at the 2 s deadline, exit 1, still a clean logoff.
timeout -k 5 "$E2E_CLIENT_S" "$EX" "$EP" 1 "$SECRET1" "$C1" buy "$(printf '%d.%04d' $((LO / 10000)) $((LO % 10000)))" 1 2 \
	>"$WORK/lonely.out" 2>&1
rc=$?
[ $rc = 1 ] || fail "an order nobody traded: exit $rc (want 1): $(cat "$WORK/lonely.out")"
for l in '^cancelled: 1 not traded$' '^not filled$' '^logged off$'; do
	grep -Eq "$l" "$WORK/lonely.out" || fail "lonely order: no line /$l/: $(cat "$WORK/lonely.out")"
done
# Bad arguments: usage, exit 2.
"$EX" "$EP" 1 "$SECRET1" "$C1" buy 2.50101 1 >"$WORK/bad.out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q '^usage: ' "$WORK/bad.out" || fail "a price finer than the unit: exit $rc: $(cat "$WORK/bad.out")"

td_stop_clean
e2e_no_sanitizer -- "$LOG" "$LOG.err"
echo "PASS [example]: sold and bought 3 at $PRICE (trade $t1), an unfilled order cancelled at its deadline"
