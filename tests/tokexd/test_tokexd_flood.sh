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
# and /dev/net/tun, else exit 77. Every wait is bounded
# (e2e_lib.sh: E2E_WAIT_S for a start or a stop, E2E_CLIENT_S for a client run).
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

e2e_traps
e2e_setup flood tkxf 89
e2e_tcp_port

# Starts tokexd with the configuration $WORK/$1.yaml; 0 when ready (TAP addressed).
start_tokexd() {
	td_start "$WORK/$1.yaml" --tcp "127.0.0.1:$TCPPORT"
}

config() { # $1: name, $2: session settings, $3: journal dir ("" = none)
	e2e_config "$WORK/$1.yaml" rtc "$WORK/$1.sock" "sessions:
  max: 8
$2
journal:
  stall_ms: 600000 # a loaded test machine stalls fdatasync; halting is for a dead disk
  dir: \"$3\"
$E2E_TCP_YAML"
}

run() { # $1: name, then flood_client's arguments
	local name=$1
	shift
	timeout -k 5 "$E2E_CLIENT_S" "$FC" --tcp "127.0.0.1:$TCPPORT" --contract "$C1" "$@" |
		sed "s/^/[flood $name] /" | tee -a "$WORK/client.log"
	return "${PIPESTATUS[0]}"
}

finish() { # $1: name
	td_stop_clean "$1"
	e2e_no_sanitizer "$1" -- "$LOG"*
}

THR="  throttle_rate: 1
  throttle_burst: 10
  throttle_grace: 20"

config throttle "$THR" ""
start_tokexd throttle || fail "tokexd exited during start-up (throttle)"
run throttle --orders 200 --sid 0x7100a001 --throttled || fail "throttle: the flood's replies"
finish throttle

config journal "$THR" "$WORK/journal"
start_tokexd journal || fail "tokexd exited during start-up (journal)"
run journal --orders 200 --sid 0x7100a002 --throttled || fail "journal: the flood's replies"
finish journal

config default "" ""
start_tokexd default || fail "tokexd exited during start-up (default)"
run default --orders 3000 --sid 0x7100a003 || fail "default: the flood's replies"
finish default
echo "PASS: flood"
