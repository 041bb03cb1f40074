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
# 239.198.<net>.1. Needs root and /dev/net/tun, else exit 77. Every wait is bounded
# (e2e_lib.sh: E2E_WAIT_S for a start, a stop or a log line, E2E_CLIENT_S for a client run).
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
rtc) NETS="85 86" ;;
pipeline) NETS="87 88" ;;
*) echo "usage: test_tokexd_logon.sh rtc|pipeline TOKEXD LOGON_REPLAY" >&2; exit 2 ;;
esac

e2e_traps
e2e_setup "logon-$WHAT" tkxl "$NETS"
e2e_config "$WORK/tokexd.yaml" "$WHAT" "$WORK/tokexd.sock" "sessions:
  max: 8
  # A start can take tens of seconds on a loaded machine: the captured timestamps must
  # stay within the tolerance, so that only the replay rule can refuse them.
  timestamp_tolerance_ms: 600000
journal:
  stall_ms: 600000 # a loaded test machine stalls fdatasync; halting is for a dead disk
  dir: $WORK/journal
  durability: sync
$E2E_TCP_YAML"
e2e_tcp_port

# Starts tokexd on the journal; 0 when ready (TAP addressed), 1 when it exited.
start_tokexd() {
	td_start "$WORK/tokexd.yaml" --tcp "127.0.0.1:$TCPPORT" || return 1
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

td_stop KILL
echo "[logon $WHAT] tokexd killed -9"
start_tokexd || fail "tokexd exited during the restart"
lr replay || fail "the replay after kill -9 and restart was accepted"
replayed_logged
grep -q '^tokexd: journal: recovered .* [1-9][0-9]* logon(s), ' "$LOG" ||
	fail "the restart recovered no logon record"
echo "[logon $WHAT] replay refused after kill -9 and restart"

td_stop_clean
e2e_no_sanitizer -- "$WORK"/tokexd.*.log*
echo "PASS: logon $WHAT"
