#!/usr/bin/env bash
# test_tokexd_transport.sh - one session on two transports, end to end (protocol 4.2): tokexd
# (journal.durability sync, the TCP gateway on 127.0.0.1) on a net_tap port; transport_client
# logs session S on over UDP and rests two bids, is refused SESSION_IN_USE when it negotiates
# S over TCP meanwhile, logs off UDP and resumes S over TCP: the numbering goes on, a resent
# cl_ord_id is refused (not executed twice), the UDP acks are retransmitted, and a MassCancel
# of scope SESSION cancels the bids entered over UDP. tokexd is then killed -9 and restarted on
# its journal: S resumes over UDP with its numbering as the TCP leg left it. On the code with
# a session table per transport, the TCP Negotiate made a second, new session: accepted while
# S was live on UDP, numbered from 1, the resent order executed, retransmission OUT_OF_RANGE,
# the UDP bids left in the book.
#
# usage: test_tokexd_transport.sh rtc|pipeline TOKEXD TRANSPORT_CLIENT
# TAP tkxt<net>_<pid>, subnets 198.18.100-103.0/24 (a lock per subnet), market data
# 239.198.<net>.1. Needs root and /dev/net/tun, else exit 77. Every wait is bounded
# (E2E_WAIT_S for a start or a stop, E2E_CLIENT_S for a client run).
set -u

WHAT=${1:?usage: test_tokexd_transport.sh rtc|pipeline TOKEXD TRANSPORT_CLIENT}
TOKEXD=${2:?usage: test_tokexd_transport.sh WHAT TOKEXD TRANSPORT_CLIENT}
TC=${3:?usage: test_tokexd_transport.sh WHAT TOKEXD TRANSPORT_CLIENT}

WORK=
TD_PID=
IFACE=
LOG=

LABEL="transport $WHAT"
. "$(cd "$(dirname "$0")" && pwd)/e2e_lib.sh"
e2e_require
[ -x "$TOKEXD" ] || fail "no tokexd at $TOKEXD"
[ -x "$TC" ] || fail "no transport_client at $TC"

case $WHAT in
rtc)
	NETS="100 101"
	MODE="mode: rtc"
	;;
pipeline)
	NETS="102 103"
	MODE="mode: pipeline
cores:
  rx: 0
  match: [1]"
	;;
*) echo "usage: test_tokexd_transport.sh rtc|pipeline TOKEXD TRANSPORT_CLIENT" >&2; exit 2 ;;
esac

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

e2e_lock_net "$NETS"
IFACE=tkxt${NET}_$$
IFACE=${IFACE:0:15}
WORK=$(mktemp -d "/tmp/tkx-transport-$WHAT.XXXXXX")
cat >"$WORK/tokexd.yaml" <<CONF
# test_tokexd_transport_$WHAT (generated)
$MODE
md:
  group: 239.198.$NET.1
  port: $((17400 + NET))
sessions:
  max: 8
journal:
  dir: $WORK/journal
  durability: sync
control:
  socket: $WORK/tokexd.sock
# A client starved between its connect and its Negotiate on a loaded machine is not one
# that holds a connection without credentials (test_gw tests the deadline).
tcp:
  negotiate_deadline_ms: 30000
firms:
  - {id: 1, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d31}
  - {id: 2, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d32}
CONF

TCPPORT=$((27400 + NET))
for _ in 1 2 3 4 5; do
	port_busy "$TCPPORT" || break
	TCPPORT=$((30000 + RANDOM % 30000))
done
port_busy "$TCPPORT" && fail "no free TCP port on 127.0.0.1"

START=0
# Starts tokexd on the journal; 0 when ready (TAP addressed), 1 when it exited.
start_tokexd() {
	START=$((START + 1))
	LOG=$WORK/tokexd.$START.log
	"$TOKEXD" -c "$WORK/tokexd.yaml" --vdev "net_tap0,iface=$IFACE" --ip "$TIP" \
		--tcp "127.0.0.1:$TCPPORT" --seconds 3600 -- --log-level='*:warning' \
		>"$LOG" 2>"$LOG.err" &
	TD_PID=$!
	wait_until "$E2E_WAIT_S" td_started
	grep -q '^tokexd: ready' "$LOG" || { td_gone && return 1; }
	grep -q '^tokexd: ready' "$LOG" || fail "tokexd not ready in $E2E_WAIT_S s"
	ip addr add "$KIP/24" dev "$IFACE" || fail "cannot address $IFACE"
	ip link set "$IFACE" up || fail "cannot bring $IFACE up"
	C1=$(awk '$1 == "tokexd:" && $2 == "contract" { print $3; exit }' "$LOG")
	[ -n "$C1" ] || fail "tokexd listed no contract"
	grep '^tokexd: journal' "$LOG" | sed "s/^/[transport $WHAT] start $START: /"
	return 0
}

tc() {
	timeout -k 5 "$E2E_CLIENT_S" "$TC" "$@" --udp "$TIP:7411" --tcp "127.0.0.1:$TCPPORT" \
		--contract "$C1" --dir "$WORK" | tee -a "$WORK/client.log"
	return "${PIPESTATUS[0]}"
}

start_tokexd || fail "tokexd exited during start-up"
tc first || fail "session S on udp then tcp"
echo "[transport $WHAT] one session across udp and tcp"

kill -KILL "$TD_PID"
stop_tokexd KILL
echo "[transport $WHAT] tokexd killed -9"
start_tokexd || fail "tokexd exited during the restart"
tc resume || fail "session S resumed on udp after the restart"
echo "[transport $WHAT] resumed on udp after kill -9 and restart, numbering as tcp left it"

stop_tokexd TERM
[ "$TD_RC" = 0 ] || fail "tokexd exit status $TD_RC"
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$WORK"/tokexd.*.log*; then
	fail "sanitizer report from tokexd"
fi
echo "PASS: transport $WHAT"
