#!/usr/bin/env bash
# test_net_tap.sh - integration test of the packet layer over a real kernel peer.
#
# net_echo (DPDK, net_tap vdev) owns 198.18.0.2; the kernel side of its TAP interface is
# moved into a network namespace made here and given 198.18.0.1/24. From that namespace:
# ping (ARP + ICMP echo), UDP to 198.18.0.2:7411 that must come back byte for byte, one
# datagram to a closed port and one with a bad UDP checksum that must be dropped and
# counted under their reasons in net_echo's final counters. Run twice: with the TAP PMD's
# checksum offloads, and with software checksums (--sw-csum).
#
# usage: test_net_tap.sh NET_ECHO NET_PROBE
# Needs root and /dev/net/tun (else exit 77, skipped). Addresses: 198.18.0.0/24 only, inside
# the namespace. Bounded: each net_echo runs at most 20 s; the whole test well under 60 s.
set -u

NET_ECHO=${1:?usage: test_net_tap.sh NET_ECHO NET_PROBE}
NET_PROBE=${2:?usage: test_net_tap.sh NET_ECHO NET_PROBE}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; [ -n "${LOG:-}" ] && [ -f "$LOG" ] && sed 's/^/  net_echo: /' "$LOG" "$LOG.err" >&2; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root (TAP device, network namespace, raw sockets)"
[ -c /dev/net/tun ] || skip "/dev/net/tun missing (modprobe tun)"
command -v ip >/dev/null || skip "iproute2 ('ip') missing"
[ -x "$NET_ECHO" ] || fail "no net_echo at $NET_ECHO"
[ -x "$NET_PROBE" ] || fail "no net_probe at $NET_PROBE"

NS=tkxnet$$
IFACE=tkxt$$            # <= 15 chars: IFNAMSIZ
IFACE=${IFACE:0:15}
WORK=$(mktemp -d /tmp/tkx-net-tap.XXXXXX)
ECHO_PID=

cleanup() {
	if [ -n "$ECHO_PID" ] && kill -0 "$ECHO_PID" 2>/dev/null; then
		kill -TERM "$ECHO_PID" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$ECHO_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$ECHO_PID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns add "$NS" 2>/dev/null || skip "cannot create a network namespace (ip netns add)"
ip -n "$NS" link set lo up

if command -v ping >/dev/null; then
	PING=(ping -c 3 -W 1 198.18.0.2)
else
	echo "note: ping not installed (Debian package iputils-ping): using net_probe ping"
	PING=("$NET_PROBE" ping 198.18.0.2 --count 3 --timeout-ms 1000)
fi

# counter NAME: the value of one "NAME VALUE" line of net_echo's output
counter() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print "missing" }' "$LOG"; }

# expect NAME OP VALUE: e.g. expect net.drop.udp_csum -eq 1
expect() {
	local v
	v=$(counter "$1")
	[ "$v" != missing ] || fail "[$MODE] counter $1 not printed"
	[ "$v" "$2" "$3" ] || fail "[$MODE] $1 = $v, expected $2 $3"
}

run_mode() {
	MODE=$1
	shift
	LOG=$WORK/echo-$MODE.log
	# EAL options after "--": quieter logs. Each process gets its own --file-prefix
	# (tokex-<pid>, from dp_eal_args_default).
	"$NET_ECHO" --vdev "net_tap0,iface=$IFACE" --ip 198.18.0.2 --udp-port 7411 \
		--seconds 20 --max-pkts 10000 --link-timeout-ms 3000 "$@" \
		-- --log-level='*:warning' >"$LOG" 2>"$LOG.err" &
	ECHO_PID=$!

	for _ in $(seq 1 100); do
		grep -q '^ready ' "$LOG" 2>/dev/null && break
		kill -0 "$ECHO_PID" 2>/dev/null || fail "[$MODE] net_echo exited during start-up"
		sleep 0.1
	done
	grep -q '^ready ' "$LOG" || fail "[$MODE] net_echo not ready in 10 s"
	echo "[$MODE] $(grep '^ready ' "$LOG")"

	# The TAP device's fd stays with net_echo; its kernel side moves to the namespace.
	ip link set "$IFACE" netns "$NS" || fail "[$MODE] cannot move $IFACE into $NS"
	ip -n "$NS" addr add 198.18.0.1/24 dev "$IFACE" || fail "[$MODE] address"
	ip -n "$NS" link set "$IFACE" up || fail "[$MODE] link up"

	ip netns exec "$NS" "${PING[@]}" || fail "[$MODE] ping 198.18.0.2 from $NS"
	ip netns exec "$NS" "$NET_PROBE" udp 198.18.0.2 7411 --count 5 --size 64 ||
		fail "[$MODE] UDP echo (64 bytes)"
	ip netns exec "$NS" "$NET_PROBE" udp 198.18.0.2 7411 --count 2 --size 1472 ||
		fail "[$MODE] UDP echo (1472 bytes)"
	ip netns exec "$NS" "$NET_PROBE" udp 198.18.0.2 7411 --count 1 --size 0 ||
		fail "[$MODE] UDP echo (empty)"
	ip netns exec "$NS" "$NET_PROBE" send 198.18.0.2 7499 --count 1 ||
		fail "[$MODE] UDP to a closed port"
	ip netns exec "$NS" "$NET_PROBE" bad-csum 198.18.0.2 7411 --size 32 ||
		fail "[$MODE] bad-checksum datagram"
	# The last two expect no answer: give net_echo a moment to see them.
	sleep 0.3

	kill -TERM "$ECHO_PID"
	for _ in $(seq 1 50); do kill -0 "$ECHO_PID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$ECHO_PID" 2>/dev/null && fail "[$MODE] net_echo ignored SIGTERM for 5 s"
	wait "$ECHO_PID"
	local rc=$?
	ECHO_PID=
	[ "$rc" = 0 ] || fail "[$MODE] net_echo exit status $rc"
	grep -q '^exit signal$' "$LOG" || fail "[$MODE] net_echo did not stop on SIGTERM"
	# The TAP device went away with net_echo; the namespace is reused by the next run.
	ip -n "$NS" link show "$IFACE" >/dev/null 2>&1 && fail "[$MODE] $IFACE outlived net_echo"

	expect net.arp_replies -ge 1
	expect net.icmp_replies -ge 3
	expect net.udp_delivered -eq 8
	expect net.drop.udp_csum -eq 1
	expect net.drop.udp_port -eq 1
	expect net.drop.ip_csum -eq 0
	expect net.tx_full -eq 0
	expect net.tx_nombuf -eq 0
	expect net.tx_too_big -eq 0
	grep -E '^net\.(udp_delivered|arp_replies|icmp_replies|tx_pkts|drop\.(udp_csum|udp_port|ethertype)) ' \
		"$LOG" | sed "s/^/[$MODE]   /"
	echo "[$MODE] ok"
}

run_mode offload
run_mode sw --sw-csum
grep -q 'tx_offloads=0x0 ' "$WORK/echo-sw.log" || fail "[sw] checksum offloads still on"
echo "PASS"
