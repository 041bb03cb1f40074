#!/usr/bin/env bash
# test_tokexd_logon.sh - the logon replay attack end to end (protocol 4.4, 4.5): tokexd
# (journal.durability sync, the TCP gateway on 127.0.0.1) on a net_tap port; logon_replay
# logs a victim on and off on UDP (the RX core's sessions) and on TCP (the gateway's),
# capturing their Negotiate and Establish off the wire, then replays those bytes from
# another address: refused (NegotiationReject STALE_TIMESTAMP, tokexd logs LOGON_REPLAYED).
# tokexd is then killed -9 and restarted on its journal: the same bytes are refused again
# (the sessions' newest logon timestamps were journaled before their NegotiationResponse
# left). On the old code both replays were accepted and the replayer held the session.
#
# usage: test_tokexd_logon.sh rtc|pipeline TOKEXD LOGON_REPLAY
# TAP tkxl<net>_<pid>, subnets 198.18.85-88.0/24 (a lock per subnet), market data
# 239.198.<net>.1. Needs root and /dev/net/tun, else exit 77. Every wait is bounded: a
# start 15 s, each client step 30 s, a log line 10 s; tokexd's own --seconds 120.
set -u

WHAT=${1:?usage: test_tokexd_logon.sh rtc|pipeline TOKEXD LOGON_REPLAY}
TOKEXD=${2:?usage: test_tokexd_logon.sh WHAT TOKEXD LOGON_REPLAY}
LR=${3:?usage: test_tokexd_logon.sh WHAT TOKEXD LOGON_REPLAY}

WORK=
TD_PID=
IFACE=
LOG=

LABEL="logon $WHAT"
. "$(cd "$(dirname "$0")" && pwd)/e2e_lib.sh"
e2e_require
[ -x "$TOKEXD" ] || fail "no tokexd at $TOKEXD"
[ -x "$LR" ] || fail "no logon_replay at $LR"

case $WHAT in
rtc)
	NETS="85 86"
	MODE="mode: rtc"
	;;
pipeline)
	NETS="87 88"
	MODE="mode: pipeline
cores:
  rx: 0
  match: [1]"
	;;
*) echo "usage: test_tokexd_logon.sh rtc|pipeline TOKEXD LOGON_REPLAY" >&2; exit 2 ;;
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
IFACE=tkxl${NET}_$$
IFACE=${IFACE:0:15}
WORK=$(mktemp -d "/tmp/tkx-logon-$WHAT.XXXXXX")
cat >"$WORK/tokexd.yaml" <<EOF
# test_tokexd_logon_$WHAT (generated)
$MODE
md:
  group: 239.198.$NET.1
  port: $((17400 + NET))
sessions:
  max: 8
  # A start can take tens of seconds on a loaded machine: the captured timestamps must
  # stay within the tolerance, so that only the replay rule can refuse them.
  timestamp_tolerance_ms: 600000
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
EOF

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
	grep '^tokexd: journal' "$LOG" | sed "s/^/[logon $WHAT] start $START: /"
	return 0
}

lr() {
	timeout -k 5 "$E2E_CLIENT_S" "$LR" "$@" --udp "$TIP:7411" --tcp "127.0.0.1:$TCPPORT" --dir "$WORK" |
		tee -a "$WORK/client.log"
	return "${PIPESTATUS[0]}"
}

# tokexd's control thread prints the session logs: wait (a hang bound) for both tables'
# LOGON_REPLAYED, the record that the replay rule (not the timestamp tolerance) refused.
replayed_logged() {
	both_logged() {
		grep -q '^tokexd: udp session: session LOGON_REPLAYED StaleTimestamp session_id=274792449 ' "$LOG" &&
			grep -q '^tokexd: tcp session: session LOGON_REPLAYED StaleTimestamp session_id=274792450 ' "$LOG"
	}
	wait_until "$E2E_WAIT_S" both_logged && return 0
	fail "start $START: tokexd did not log LOGON_REPLAYED for both sessions"
}

start_tokexd || fail "tokexd exited during start-up"
lr capture --iface "$IFACE" --contract "$C1" || fail "the victims' sessions failed"
lr replay || fail "a replay right after the victims logged off was accepted"
replayed_logged
echo "[logon $WHAT] replay refused, live"

kill -KILL "$TD_PID"
stop_tokexd KILL
echo "[logon $WHAT] tokexd killed -9"
start_tokexd || fail "tokexd exited during the restart"
lr replay || fail "the replay after kill -9 and restart was accepted"
replayed_logged
grep -q '^tokexd: journal: recovered .* [1-9][0-9]* logon(s), ' "$LOG" ||
	fail "the restart recovered no logon record"
echo "[logon $WHAT] replay refused after kill -9 and restart"

stop_tokexd TERM
[ "$TD_RC" = 0 ] || fail "tokexd exit status $TD_RC"
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$WORK"/tokexd.*.log*; then
	fail "sanitizer report from tokexd"
fi
echo "PASS: logon $WHAT"
