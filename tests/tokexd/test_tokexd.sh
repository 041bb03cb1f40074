#!/usr/bin/env bash
# test_tokexd.sh - tokexd end to end: the appliance on a net_tap port, its clients on the
# kernel side of the TAP (UDP order entry, multicast market data) and on 127.0.0.1 (TCP).
#
# usage: test_tokexd.sh MODE TOKEXD E2E_CLIENT
#   rtc       run-to-completion (rtc.yaml): e2e_client scenario, then e2e_client faults
#   pipeline  RX core + one matching core (pipeline.yaml): the same two
#   throttle  throttle 50/s, burst 10, grace 10 (throttle.yaml): e2e_client throttle
#   busy      pipeline, 64-entry rings (busy.yaml): e2e_client busy
#   spoof     rtc.yaml: e2e_client spoof: datagrams with a session's source address
#             forged through a raw socket are not executed, and are counted
#   spoof_off rtc.yaml with sessions.udp_auth off: the control, where the same forged
#             order is executed (subnets 198.18.90-94.0/24 for these two)
#   mdreq     market-data re-request limits (mdreq.yaml): e2e_client mdreq, the flooder on
#             a second kernel-side address (198.18.<net>.3)
#
# Each run starts its own tokexd with a TAP named tkxe<net>_<pid> and its own /24 in
# 198.18.0.0/15 (198.18.20-35.0/24, mdreq 198.18.80-84.0/24; net_tap's test and scripts/run
# use 198.18.0.0/24), a
# lock per subnet so that two builds' test runs never share one, its own market-data group
# 239.198.<net>.1, a TCP port on 127.0.0.1 found free, and --seconds as a hard bound. The
# kernel side of the TAP gets 198.18.<net>.1 in the root namespace (the TCP client on
# 127.0.0.1 must be the same process). After the client, tokexd is stopped with SIGTERM:
# it must exit 0, print its final stats (cross-checked with what the client counted), and
# the sanitizers must have nothing to say. Cleans up on every exit path (tokexd killed by
# pid, TAP deleted, EAL runtime directory removed). Needs root and /dev/net/tun, else
# exit 77 (skipped). Bounded (e2e_lib.sh, for hangs: a loaded machine is slow): tokexd's
# start and stop E2E_WAIT_S each, each client E2E_CLIENT_S; tokexd's own --seconds 3600.
set -u

MODE=${1:?usage: test_tokexd.sh rtc|pipeline|throttle|busy|mdreq|spoof|spoof_off TOKEXD E2E_CLIENT}
TOKEXD=${2:?usage: test_tokexd.sh MODE TOKEXD E2E_CLIENT}
E2E=${3:?usage: test_tokexd.sh MODE TOKEXD E2E_CLIENT}
HERE=$(cd "$(dirname "$0")" && pwd)

WORK=
TD_PID=
IFACE=
LOG=

LABEL=$MODE
. "$HERE/e2e_lib.sh"
e2e_require
[ -x "$TOKEXD" ] || fail "no tokexd at $TOKEXD"
[ -x "$E2E" ] || fail "no e2e_client at $E2E"

case $MODE in
rtc) NETS="20 24 28 32" ;;
pipeline) NETS="21 25 29 33" ;;
throttle) NETS="22 26 30 34" ;;
busy) NETS="23 27 31 35" ;;
mdreq) NETS="80 81 82 83 84" ;;
spoof) NETS="90 91 92" ;;
spoof_off) NETS="93 94" ;;
*) echo "usage: test_tokexd.sh rtc|pipeline|throttle|busy|mdreq|spoof|spoof_off TOKEXD E2E_CLIENT" >&2; exit 2 ;;
esac
YAML=$MODE
case $MODE in spoof | spoof_off) YAML=rtc ;; esac
[ -f "$HERE/$YAML.yaml" ] || fail "no configuration $HERE/$YAML.yaml"

cleanup() {
	if [ -n "$TD_PID" ] && kill -0 "$TD_PID" 2>/dev/null; then
		kill -CONT "$TD_PID" 2>/dev/null # the busy client may have paused it
		kill -TERM "$TD_PID" 2>/dev/null
		wait_until 10 td_gone
		kill -KILL "$TD_PID" 2>/dev/null
		wait "$TD_PID" 2>/dev/null
	fi
	[ -n "$IFACE" ] && ip link del "$IFACE" 2>/dev/null
	[ -n "$TD_PID" ] && rm -rf "/var/run/dpdk/tokexd-$TD_PID"
	[ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

e2e_lock_net "$NETS"
IFACE=tkxe${NET}_$$
IFACE=${IFACE:0:15}
WORK=$(mktemp -d "/tmp/tkx-e2e-$MODE.XXXXXX")
LOG=$WORK/tokexd.log
MDGRP=239.198.$NET.1
MDPORT=$((17400 + NET))
# The mode's file with this run's market-data group and port (keys of its md: section).
awk -v g="$MDGRP" -v p="$MDPORT" '
	/^[^ #]/ { md = ($1 == "md:") }
	md && $1 == "group:" { $0 = "  group: " g }
	md && $1 == "port:" { $0 = "  port: " p }
	{ print }' "$HERE/$YAML.yaml" >"$WORK/tokexd.yaml"
grep -q "group: $MDGRP" "$WORK/tokexd.yaml" || fail "$YAML.yaml has no md.group to set"
# This run's own control socket: tokexd refuses to start on one another tokexd holds.
printf 'control:\n  socket: %s\n' "$WORK/tokexd.sock" >>"$WORK/tokexd.yaml"
if [ "$MODE" = spoof_off ]; then
	grep -q '^sessions:' "$WORK/tokexd.yaml" && fail "$YAML.yaml has a sessions: section"
	printf 'sessions:\n  udp_auth: off\n' >>"$WORK/tokexd.yaml"
fi

# Start tokexd; a TCP port taken meanwhile by someone else gets a second and third try.
start_tokexd() {
	local port=$1
	"$TOKEXD" -c "$WORK/tokexd.yaml" --vdev "net_tap0,iface=$IFACE" --ip "$TIP" \
		--tcp "127.0.0.1:$port" --seconds 3600 -- --log-level='*:warning' \
		>"$LOG" 2>"$LOG.err" &
	TD_PID=$!
	wait_until "$E2E_WAIT_S" td_started
	grep -q '^tokexd: ready' "$LOG"
}

TCPPORT=
for try in 1 2 3; do
	p=$((27400 + NET))
	[ "$try" = 1 ] || p=$((30000 + RANDOM % 30000))
	port_busy "$p" && continue
	if start_tokexd "$p"; then
		TCPPORT=$p
		break
	fi
	if kill -0 "$TD_PID" 2>/dev/null; then
		fail "tokexd not ready in $E2E_WAIT_S s"
	fi
	wait "$TD_PID" 2>/dev/null
	grep -q "in use" "$LOG" "$LOG.err" || fail "tokexd exited during start-up"
	echo "note: TCP port $p taken, trying another"
	rm -rf "/var/run/dpdk/tokexd-$TD_PID"
	TD_PID=
done
[ -n "$TCPPORT" ] || fail "no free TCP port for tokexd after 3 tries"
echo "[$MODE] $(grep '^tokexd: config' "$LOG")"
echo "[$MODE] $(grep '^tokexd: ready' "$LOG")"
echo "[$MODE] tap $IFACE $KIP -> $TIP, tcp 127.0.0.1:$TCPPORT, market data $MDGRP:$MDPORT"

# The EAL prefix is tokexd-<pid> (td_main.c); its telemetry socket lives there.
TEL=/var/run/dpdk/tokexd-$TD_PID/dpdk_telemetry.v2
ip addr add "$KIP/24" dev "$IFACE" || fail "cannot address $IFACE"
ip link set "$IFACE" up || fail "cannot bring $IFACE up"
if [ "$MODE" = mdreq ]; then
	FLOOD_IP=198.18.$NET.3 # a source of its own for the re-request limit
	ip addr add "$FLOOD_IP/24" dev "$IFACE" || fail "cannot add $FLOOD_IP to $IFACE"
fi
wait_until "$E2E_WAIT_S" test -S "$TEL" || fail "no telemetry socket at $TEL"

# The first two contracts tokexd lists (the built-in monthly ids, YYYYMM).
C1=$(awk '$1 == "tokexd:" && $2 == "contract" { print $3; exit }' "$LOG")
C2=$(awk '$1 == "tokexd:" && $2 == "contract" { n++; if (n == 2) { print $3; exit } }' "$LOG")
[ -n "$C1" ] && [ -n "$C2" ] || fail "tokexd listed fewer than two contracts"

client() {
	local what=$1
	shift
	timeout -k 5 "$E2E_CLIENT_S" "$E2E" "$what" --udp "$TIP:7411" --tcp "127.0.0.1:$TCPPORT" \
		--md "$MDGRP:$MDPORT" --md-req "$TIP:7414" --iface "$KIP" \
		--contract "$C1" --contract2 "$C2" --telemetry "$TEL" --wait-s "$E2E_WAIT_S" "$@" | tee -a "$WORK/client.log"
	return "${PIPESTATUS[0]}"
}

rc=0
case $MODE in
rtc)
	client scenario || rc=1
	client faults || rc=1
	;;
pipeline)
	client scenario || rc=1
	client faults || rc=1
	;;
throttle) client throttle || rc=1 ;;
busy) client busy --pid "$TD_PID" || rc=1 ;;
spoof) client spoof || rc=1 ;;
spoof_off) client spoof --auth-off || rc=1 ;;
mdreq) client mdreq --flood-src "$FLOOD_IP" || rc=1 ;;
esac
[ "$rc" = 0 ] || fail "e2e_client failed"

kill -0 "$TD_PID" 2>/dev/null || fail "tokexd is gone before the end"
kill -TERM "$TD_PID"
wait_until "$E2E_WAIT_S" td_gone || fail "tokexd ignored SIGTERM for $E2E_WAIT_S s"
wait "$TD_PID"
trc=$?
[ "$trc" = 0 ] || fail "tokexd exit status $trc"
grep -q '^tokexd: stopped' "$LOG" || fail "tokexd did not stop in order"
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$LOG" "$LOG.err"; then
	fail "sanitizer report from tokexd"
fi
grep '^tokexd: stats:' "$LOG" | sed "s/^/[$MODE] /"

# The final stats line against what the client saw.
stat() { grep '^tokexd: stats:' "$LOG" | tr ' ' '\n' | awk -v k="$1" 'p { print; exit } $0 == k { p = 1 }'; }
expect_stat() {
	local v
	v=$(stat "$1")
	[ "$v" = "$2" ] || fail "tokexd's final stats: $1 = '$v', expected $2"
}
case $MODE in
rtc | pipeline)
	expect_stat bad_credentials 2
	expect_stat unknown_firm 1
	grep -q 'tokexd: udp session: .*KeepaliveTimeout' "$LOG" ||
		fail "no keepalive timeout in tokexd's session log"
	;;
throttle)
	expect_stat throttled 11
	grep -q 'tokexd: udp session: .*Throttle' "$LOG" ||
		fail "no throttle termination in tokexd's session log"
	;;
busy)
	n=$(awk '$1 == "E2E" && $2 == "busy" { print $3 }' "$WORK/client.log")
	[ -n "$n" ] || fail "the client did not report its BUSY count"
	expect_stat busy "$n"
	;;
spoof)
	n=$(awk '$1 == "E2E" && $2 == "spoof" && $3 == "refused" { print $4 }' "$WORK/client.log")
	[ "$n" = 4 ] || fail "the client reported '$n' forged datagrams refused, expected 4"
	expect_stat auth_refused "$n"
	;;
spoof_off)
	grep -q 'sessions.udp_auth off' "$LOG" || fail "tokexd did not say that udp_auth is off"
	grep -q '^E2E spoof executed 1' "$WORK/client.log" || fail "the control saw no execution"
	expect_stat auth_refused 0
	;;
esac
echo "PASS [$MODE]"
