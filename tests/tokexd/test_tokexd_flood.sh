#!/usr/bin/env bash
# test_tokexd_flood.sh - a TCP order flood through tokexd's gateway (protocol 4.8, 4.11):
# flood_client sends a burst of crossing NewOrders on one session while it reads, and checks
# that the answers come in request order (no THROTTLED reject ahead of an earlier order's
# ack, no fill ahead of its order's ack), that the exchange's Terminate THROTTLE comes after
# the answers to everything it took and nothing is numbered after it, and that the session,
# re-established, has nothing the client did not see (its last messages retransmitted byte
# for byte). Three runs of tokexd (rtc):
#   1. throttle rate 1/s, burst 10, grace 20: 200 orders, terminated THROTTLE;
#   2. the same with a journal (the gateway's own replies go through it, DP_ORD_LOCAL);
#   3. the default session configuration: 3000 orders (throttled or not, as fast as the
#      machine goes; the order checks hold either way).
# On the old code the Terminate came first and the replies were numbered after it.
#
# usage: test_tokexd_flood.sh TOKEXD FLOOD_CLIENT
# TAP tkxf<net>_<pid>, subnet 198.18.89.0/24 (a lock), market data 239.198.89.1. Needs root
# and /dev/net/tun, else exit 77. Every wait is bounded: a start 60 s (a loaded machine), each client 60 s;
# tokexd's own --seconds 100.
set -u

TOKEXD=${1:?usage: test_tokexd_flood.sh TOKEXD FLOOD_CLIENT}
FC=${2:?usage: test_tokexd_flood.sh TOKEXD FLOOD_CLIENT}

WORK=
TD_PID=
IFACE=
LOG=

LABEL="flood"
. "$(cd "$(dirname "$0")" && pwd)/e2e_lib.sh"
e2e_require
[ -x "$TOKEXD" ] || fail "no tokexd at $TOKEXD"
[ -x "$FC" ] || fail "no flood_client at $FC"

stop_tokexd() { # $1: signal
	[ -n "$TD_PID" ] || return 0
	if kill -0 "$TD_PID" 2>/dev/null; then
		kill "-$1" "$TD_PID" 2>/dev/null
		wait_until "$E2E_WAIT_S" td_gone
		kill -KILL "$TD_PID" 2>/dev/null
	fi
	wait "$TD_PID" 2>/dev/null
	TD_RC=$?
	rm -rf "/var/run/dpdk/tokexd-$TD_PID"
	TD_PID=
}
cleanup() {
	stop_tokexd KILL
	[ -n "$IFACE" ] && ip link del "$IFACE" 2>/dev/null
	[ -n "$WORK" ] && [ -z "${TKX_KEEP:-}" ] && rm -rf "$WORK" # TKX_KEEP=1: keep it to debug
}
trap cleanup EXIT
trap 'exit 1' INT TERM

e2e_lock_net "89"
IFACE=tkxf${NET}_$$
IFACE=${IFACE:0:15}
WORK=$(mktemp -d "/tmp/tkx-flood.XXXXXX")
TCPPORT=$((27400 + NET))
for _ in 1 2 3 4 5; do
	port_busy "$TCPPORT" || break
	TCPPORT=$((30000 + RANDOM % 30000))
done
port_busy "$TCPPORT" && fail "no free TCP port on 127.0.0.1"

START=0
# Starts tokexd with the configuration $1 (a file); 0 when ready (TAP addressed).
start_tokexd() {
	START=$((START + 1))
	LOG=$WORK/tokexd.$START.log
	"$TOKEXD" -c "$1" --vdev "net_tap0,iface=$IFACE" --ip "$TIP" \
		--tcp "127.0.0.1:$TCPPORT" --seconds 3600 -- --log-level='*:warning' \
		>"$LOG" 2>"$LOG.err" &
	TD_PID=$!
	wait_until "$E2E_WAIT_S" td_started
	grep -q '^tokexd: ready' "$LOG" || { td_gone && return 1; }
	grep -q '^tokexd: ready' "$LOG" || fail "tokexd not ready in $E2E_WAIT_S s"
	ip addr add "$KIP/24" dev "$IFACE" 2>/dev/null
	ip link set "$IFACE" up || fail "cannot bring $IFACE up"
	C1=$(awk '$1 == "tokexd:" && $2 == "contract" { print $3; exit }' "$LOG")
	[ -n "$C1" ] || fail "tokexd listed no contract"
	return 0
}

config() { # $1: name, $2: session settings, $3: journal dir ("" = none)
	cat >"$WORK/$1.yaml" <<EOF
# test_tokexd_flood (generated)
mode: rtc
md:
  group: 239.198.$NET.1
  port: $((17400 + NET))
sessions:
  max: 8
$2
journal:
  dir: "$3"
control:
  socket: $WORK/$1.sock
# A client starved between its connect and its Negotiate on a loaded machine is not one
# that holds a connection without credentials (test_gw tests the deadline).
tcp:
  negotiate_deadline_ms: 30000
firms:
  - {id: 1, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d31}
  - {id: 2, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d32}
EOF
}

run() { # $1: name, then flood_client's arguments
	local name=$1
	shift
	timeout -k 5 "$E2E_CLIENT_S" "$FC" --tcp "127.0.0.1:$TCPPORT" --contract "$C1" "$@" |
		sed "s/^/[flood $name] /" | tee -a "$WORK/client.log"
	return "${PIPESTATUS[0]}"
}

finish() { # $1: name
	stop_tokexd TERM
	[ "$TD_RC" = 0 ] || fail "$1: tokexd exit status $TD_RC"
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$LOG"*; then
		fail "$1: sanitizer report from tokexd"
	fi
}

THR="  throttle_rate: 1
  throttle_burst: 10
  throttle_grace: 20"

config throttle "$THR" ""
start_tokexd "$WORK/throttle.yaml" || fail "tokexd exited during start-up (throttle)"
run throttle --orders 200 --sid 0x7100a001 --throttled || fail "throttle: the flood's replies"
finish throttle

config journal "$THR" "$WORK/journal"
start_tokexd "$WORK/journal.yaml" || fail "tokexd exited during start-up (journal)"
run journal --orders 200 --sid 0x7100a002 --throttled || fail "journal: the flood's replies"
finish journal

config default "" ""
start_tokexd "$WORK/default.yaml" || fail "tokexd exited during start-up (default)"
run default --orders 3000 --sid 0x7100a003 || fail "default: the flood's replies"
finish default
echo "PASS: flood"
