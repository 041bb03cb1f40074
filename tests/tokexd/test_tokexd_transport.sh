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
rtc) NETS="100 101" ;;
pipeline) NETS="102 103" ;;
*) echo "usage: test_tokexd_transport.sh rtc|pipeline TOKEXD TRANSPORT_CLIENT" >&2; exit 2 ;;
esac

e2e_traps
e2e_setup "transport-$WHAT" tkxt "$NETS"
e2e_config "$WORK/tokexd.yaml" "$WHAT" "$WORK/tokexd.sock" "sessions:
  max: 8
journal:
  stall_ms: 600000 # a loaded test machine stalls fdatasync; halting is for a dead disk
  dir: $WORK/journal
  durability: sync
$E2E_TCP_YAML"
e2e_tcp_port

# Starts tokexd on the journal; 0 when ready (TAP addressed), 1 when it exited.
start_tokexd() {
	td_start "$WORK/tokexd.yaml" --tcp "127.0.0.1:$TCPPORT" || return 1
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

td_stop KILL
echo "[transport $WHAT] tokexd killed -9"
start_tokexd || fail "tokexd exited during the restart"
tc resume || fail "session S resumed on udp after the restart"
echo "[transport $WHAT] resumed on udp after kill -9 and restart, numbering as tcp left it"

td_stop_clean
e2e_no_sanitizer -- "$WORK"/tokexd.*.log*
echo "PASS: transport $WHAT"
