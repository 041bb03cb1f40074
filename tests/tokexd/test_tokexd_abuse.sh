#!/usr/bin/env bash
# test_tokexd_abuse.sh - one tokexd under every attack at once, while two members who follow
# the protocol trade through it: each of their requests must be answered exactly and in
# time, and each attack must be seen made and refused in tokexd's counters.
#
# usage: test_tokexd_abuse.sh rtc|pipeline TOKEXD ABUSE_CLIENT E2E_CLIENT FLOOD_CLIENT
#                             PARK_CLIENT LOGON_REPLAY TOKEXCTL [TIMEOUT_SCALE]
#
# tokexd (no journal) on a net_tap port and the TCP gateway on 127.0.0.1, with limits small
# enough to reach: sessions.max 16 per transport (8 per firm), throttle 50/s, depth 20,
# grace 20; tcp.max_conns 20, 5 per source address, credentials within 10 s; the
# re-request limits of mdreq.yaml; a timestamp tolerance of 10 minutes (only the replay
# rule may refuse the replayed logons). The run:
#   1. logon_replay captures a victim's Negotiate + Establish on UDP (firm 1) and TCP
#      (firm 2) off the wire as it logs on, trades and off (before the floods: its packet
#      sockets would drown in their packets);
#   2. abuse_client good: firm 1 on UDP, firm 2 on TCP from 127.0.0.2 trade rounds on a
#      contract of their own (GTC, IOC against it, cancel: every answer checked field by
#      field, numbering without a gap or a repeat, each answer within 2 s x TIMEOUT_SCALE
#      of its request), forging datagrams with the UDP session's address between rounds
#      (NewOrder cl_ord_id 2^64-1 and Terminate unsealed, a NewOrder under a made-up MAC);
#   3. abuse_client idle: TCP connections that never send a byte, 200 at once from
#      127.0.1.1 and 5 from each of 127.0.1.2-5 (beyond the table), again every 12 s;
#   4. once they hold the table, at once: park_client (firm 2 parks UDP sessions with a
#      resting GTC order each until refused SessionLimit), flood_client (a TCP flood of
#      600 orders) and abuse_client udpflood (a UDP flood of 400), e2e_client mdreq (a
#      re-request flood from 198.18.<net>.3 beside a subscriber that recovers the last 300
#      messages: the stream ran long before it), and
#      logon_replay replay (the captured bytes sent again from new sockets);
#   5. with the parker at its limit and idle connections evicted for others (go): the
#      good UDP session logs off and firm 1 logs on a new one; the TCP session resumes on
#      a new connection;
#   6. when every attacker has finished and the first idle connections have hit the
#      credentials deadline (stop): the good sessions check that nothing more comes, log
#      off and print their figures (requests, latency max, p99, p50).
# Then tokexd's telemetry must show each attack and its refusal (per-address refusals,
# evictions and deadline closures; SESSION_LIMIT; both replays refused; the forged datagrams
# dropped for want of a MAC or for a bad one, nothing reused; both transports throttled and
# terminated; re-requests throttled), tokexctl sessions firm 2 at its limit of 8 (both transports), and
# tokexd must exit 0 on SIGTERM with nothing from the sanitizers. On the code before the
# hardening, the good TCP session's reconnection is locked out by the idle connections,
# firm 1's new UDP session is refused (the parker holds the table), the replay is
# accepted, the forged order executes (the next order of the good session is refused
# CLORDID_REUSED) and the flood's replies come after its Terminate: each fails the test.
#
# TAP tkxa<net>_<pid>, subnets 198.18.120-122.0/24 (rtc) and 123-124 (pipeline), a lock
# each; market data 239.198.<net>.1; source addresses 127.0.0.2 and 127.0.1.1-5 on lo.
# Needs root and /dev/net/tun, else exit 77. Every wait is bounded (E2E_WAIT_S, a hang
# bound; each client E2E_CLIENT_S); tokexd's own --seconds 3600. TKX_KEEP=1 keeps the work
# directory.
set -u

USAGE="usage: test_tokexd_abuse.sh rtc|pipeline TOKEXD ABUSE_CLIENT E2E_CLIENT FLOOD_CLIENT PARK_CLIENT LOGON_REPLAY TOKEXCTL [TIMEOUT_SCALE]"
MODE=${1:?$USAGE}
TOKEXD=${2:?$USAGE}
AC=${3:?$USAGE}
E2E=${4:?$USAGE}
FC=${5:?$USAGE}
PC=${6:?$USAGE}
LR=${7:?$USAGE}
CTL=${8:?$USAGE}
SCALE=${TKX_TEST_TIMEOUT_SCALE:-${9:-5}}

WORK=
TD_PID=
IFACE=
LOG=
declare -A BG=()

LABEL="abuse $MODE"
. "$(cd "$(dirname "$0")" && pwd)/e2e_lib.sh"
e2e_require
for x in "$TOKEXD" "$AC" "$E2E" "$FC" "$PC" "$LR" "$CTL"; do
	[ -x "$x" ] || fail "no executable at $x"
done
[[ $SCALE =~ ^[1-9][0-9]*$ ]] || fail "TIMEOUT_SCALE '$SCALE' is not a positive number"

case $MODE in
rtc)
	NETS="120 121 122"
	CORES="mode: rtc"
	;;
pipeline)
	NETS="123 124"
	CORES="mode: pipeline
cores:
  rx: 0
  match: [1]"
	;;
*) echo "$USAGE" >&2; exit 2 ;;
esac

# The answer to each request of a good session must come within this (a lock-out or a
# starved session is many times longer; a loaded machine, within it).
DEADLINE_MS=$((2000 * SCALE))
NEG_MS=10000 # tcp.negotiate_deadline_ms

say() { echo "[abuse $MODE] $*"; }

stop_bg() {
	local n
	for n in "${!BG[@]}"; do
		kill "${BG[$n]}" 2>/dev/null
	done
	for n in "${!BG[@]}"; do
		wait "${BG[$n]}" 2>/dev/null
	done
	BG=()
}
cleanup() {
	stop_bg
	if [ -n "$TD_PID" ] && kill -0 "$TD_PID" 2>/dev/null; then
		kill -KILL "$TD_PID" 2>/dev/null
		wait "$TD_PID" 2>/dev/null
	fi
	[ -n "$TD_PID" ] && rm -rf "/var/run/dpdk/tokexd-$TD_PID"
	[ -n "$IFACE" ] && ip link del "$IFACE" 2>/dev/null
	[ -n "$WORK" ] && [ -z "${TKX_KEEP:-}" ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

e2e_lock_net "$NETS"
IFACE=tkxa${NET}_$$
IFACE=${IFACE:0:15}
WORK=$(mktemp -d "/tmp/tkx-abuse-$MODE.XXXXXX")
LOG=$WORK/tokexd.log
SOCK=$WORK/ctl.sock
FLOOD_IP=198.18.$NET.3 # the re-request flooder's own source
cat >"$WORK/tokexd.yaml" <<EOF
# test_tokexd_abuse_$MODE (generated)
$CORES
# The re-request limits of mdreq.yaml (e2e_client.c MDREQ_* must match).
md:
  group: 239.198.$NET.1
  port: $((17400 + NET))
  snapshot_ms: 50
  request_max_bytes: 1492
  request_rate: 100000
  request_burst: 65536
  request_global_rate: 1000000
sessions:
  max: 16
  # The flooders exceed it at once; the good sessions (a round at most every 40 ms, at
  # most 2 requests each) never.
  throttle_rate: 50
  throttle_burst: 20
  throttle_grace: 20
  # A loaded machine may take long between the capture and the replay: only the replay
  # rule may refuse the replayed logons.
  timestamp_tolerance_ms: 600000
tcp:
  max_conns: 20
  max_conns_per_ip: 5
  # Short enough to see idle connections closed; long enough for a client starved
  # between its connect and its Negotiate on a loaded machine.
  negotiate_deadline_ms: $NEG_MS
journal:
  dir: ""
control:
  socket: $SOCK
firms:
  - {id: 1, name: test-firm-1, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d31}
  - {id: 2, name: test-firm-2, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d32}
EOF

# Start tokexd; a TCP port taken meanwhile by someone else gets another try.
TCPPORT=
for try in 1 2 3; do
	p=$((27400 + NET))
	[ "$try" = 1 ] || p=$((30000 + RANDOM % 30000))
	port_busy "$p" && continue
	"$TOKEXD" -c "$WORK/tokexd.yaml" --vdev "net_tap0,iface=$IFACE" --ip "$TIP" \
		--tcp "127.0.0.1:$p" --seconds 3600 -- --log-level='*:warning' \
		>"$LOG" 2>"$LOG.err" &
	TD_PID=$!
	wait_until "$E2E_WAIT_S" td_started
	if grep -q '^tokexd: ready' "$LOG"; then
		TCPPORT=$p
		break
	fi
	td_gone || fail "tokexd not ready in $E2E_WAIT_S s"
	wait "$TD_PID" 2>/dev/null
	grep -q "in use" "$LOG" "$LOG.err" || fail "tokexd exited during start-up"
	rm -rf "/var/run/dpdk/tokexd-$TD_PID"
	TD_PID=
done
[ -n "$TCPPORT" ] || fail "no free TCP port for tokexd after 3 tries"
TEL=/var/run/dpdk/tokexd-$TD_PID/dpdk_telemetry.v2
ip addr add "$KIP/24" dev "$IFACE" || fail "cannot address $IFACE"
ip addr add "$FLOOD_IP/24" dev "$IFACE" || fail "cannot add $FLOOD_IP to $IFACE"
ip link set "$IFACE" up || fail "cannot bring $IFACE up"
wait_until "$E2E_WAIT_S" test -S "$TEL" || fail "no telemetry socket at $TEL"
ctl_up() { [ -S "$SOCK" ] && "$CTL" -s "$SOCK" help >/dev/null 2>&1; }
wait_until "$E2E_WAIT_S" ctl_up || fail "no tokexctl socket at $SOCK"
# Contracts: the parker's and the TCP flood's, the good sessions' own, the UDP flood's, the
# replay victims'.
C=()
mapfile -t C < <(awk '$1 == "tokexd:" && $2 == "contract" { print $3 }' "$LOG")
[ "${#C[@]}" -ge 4 ] || fail "tokexd listed fewer than four contracts"
say "tap $IFACE $KIP -> $TIP, tcp 127.0.0.1:$TCPPORT, deadline per answer $DEADLINE_MS ms," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)"

# tokexd's counters: snapshot NAME into $WORK/tel.NAME; one counter of a snapshot.
snap() {
	timeout -k 5 "$E2E_WAIT_S" "$E2E" telemetry --telemetry "$TEL" --wait-s "$E2E_WAIT_S" >"$WORK/tel.$1" 2>&1 &&
		grep -q '"/tokex/stats"' "$WORK/tel.$1"
}
val() { grep -o "\"$2\": *[0-9]*" "$WORK/tel.$1" | grep -o '[0-9]*$'; }
# Whether counter $1 is at least $2 now.
reached() { snap now && [ "$(val now "$1")" -ge "$2" ] 2>/dev/null; }

# A client in the background, its output in $WORK/NAME.out.
bg() {
	local name=$1
	shift
	timeout -k 5 "$E2E_CLIENT_S" "$@" >"$WORK/$name.out" 2>&1 &
	BG[$name]=$!
}
# Waits for client NAME; fails unless it exited 0. Its output goes to ours.
fin() {
	local rc
	wait "${BG[$1]}"
	rc=$?
	unset "BG[$1]"
	sed "s/^/[abuse $MODE] $1: /" "$WORK/$1.out"
	[ "$rc" = 0 ] || fail "$1 failed (exit $rc)"
}
# Fails when client NAME has exited already (waiting for something it should do).
alive() { kill -0 "${BG[$1]}" 2>/dev/null || { fin "$1"; fail "$1 ended early"; }; }
has() { [ -e "$WORK/$1" ]; }

# 1. The victims log on, trade and off while their logons are captured.
timeout -k 5 "$E2E_CLIENT_S" "$LR" capture --udp "$TIP:7411" --tcp "127.0.0.1:$TCPPORT" \
	--iface "$IFACE" --contract "${C[3]}" --dir "$WORK" >"$WORK/capture.out" 2>&1
rc=$?
sed "s/^/[abuse $MODE] capture: /" "$WORK/capture.out"
[ "$rc" = 0 ] || fail "logon_replay capture failed"

# 2. The good sessions.
bg good "$AC" good --udp "$TIP:7411" --tcp "127.0.0.1:$TCPPORT" --tcp-src 127.0.0.2 \
	--contract "${C[1]}" --dir "$WORK" --deadline-ms "$DEADLINE_MS" --wait-s "$E2E_CLIENT_S" \
	--min-rounds 100
good_up() { has good.up || ! kill -0 "${BG[good]}" 2>/dev/null; }
wait_until "$E2E_WAIT_S" good_up || fail "the good sessions did not start in $E2E_WAIT_S s"
alive good
say "the good sessions trade"

# 3. Idle connections take the gateway's table.
bg idle "$AC" idle --tcp "127.0.0.1:$TCPPORT" --one 127.0.1.1 \
	--few 127.0.1.2,127.0.1.3,127.0.1.4,127.0.1.5 --burst 200 --cap 5 \
	--wave-ms $((NEG_MS + 2000)) --max 800 --dir "$WORK" --wait-s "$E2E_CLIENT_S"
held() { has idle.up && reached tcp_gw_conns_evicted 1 && reached tcp_gw_per_ip_refused 1; }
wait_until "$E2E_WAIT_S" held ||
	fail "the idle connections were neither refused per address nor evicted in $E2E_WAIT_S s"
alive idle
say "idle connections hold the table (refused per address $(val now tcp_gw_per_ip_refused)," \
	"evicted $(val now tcp_gw_conns_evicted))"

# 4. Every other attack at once.
bg park "$PC" --udp "$TIP:7411" --contract "${C[0]}" park 2 9100001 40 24000 1
bg tcpflood "$FC" --tcp "127.0.0.1:$TCPPORT" --contract "${C[0]}" --orders 600 \
	--sid 0x7ab0f002 --throttled
bg udpflood "$AC" udpflood --udp "$TIP:7411" --contract "${C[2]}" --orders 400 \
	--sid 0x7ab0f001 --wait-s "$E2E_WAIT_S"
bg mdreq "$E2E" mdreq --udp "$TIP:7411" --tcp "127.0.0.1:$TCPPORT" \
	--md "239.198.$NET.1:$((17400 + NET))" --md-req "$TIP:7414" --iface "$KIP" \
	--contract "${C[0]}" --telemetry "$TEL" --flood-src "$FLOOD_IP" --md-recover 300 \
	--wait-s "$E2E_WAIT_S"
bg replay "$LR" replay --udp "$TIP:7411" --tcp "127.0.0.1:$TCPPORT" --dir "$WORK"
say "attacks under way: parking, floods on tcp and udp, re-request flood, logon replay"

# 5. The parker at its limit: the good sessions log on again.
fin park
# One table for both transports (protocol 4.2): firm 2's limit of 8 holds its TCP sessions
# too (the good one, the replay's victim), so the parker gets what they leave.
grep -q '^PARK parked [1-9][0-9]*$' "$WORK/park.out" || fail "firm 2 parked no session"
grep -q '^PARK [0-9]* refused NegotiationReject: SessionLimit' "$WORK/park.out" ||
	fail "the parker was not refused SessionLimit"
touch "$WORK/go"
relogged() { has good.relogged || ! kill -0 "${BG[good]}" 2>/dev/null; }
wait_until "$E2E_WAIT_S" relogged || fail "the good sessions did not log on again"
alive good

# 6. The other attackers finish; the first idle connections reach the deadline.
for n in tcpflood udpflood mdreq replay; do
	fin "$n"
done
wait_until "$E2E_WAIT_S" reached tcp_gw_negotiate_timeouts 1 ||
	fail "no idle connection closed at the credentials deadline in $E2E_WAIT_S s"
alive idle
touch "$WORK/stop"
fin idle
fin good

# What tokexd counted.
snap end || fail "no telemetry at the end"
COUNTS=
ge() { # COUNTER MIN WHAT
	local v
	v=$(val end "$1")
	[ -n "$v" ] || fail "no counter $1 in tokexd's telemetry"
	[ "$v" -ge "$2" ] || fail "$3: $1 is $v, expected at least $2"
	COUNTS="$COUNTS $1 $v"
}
le() { # COUNTER MAX WHAT
	local v
	v=$(val end "$1")
	[ -n "$v" ] || fail "no counter $1 in tokexd's telemetry"
	[ "$v" -le "$2" ] || fail "$3: $1 is $v, expected at most $2"
}
ge tcp_gw_per_ip_refused 1 "idle connections"
ge tcp_gw_conns_evicted 1 "idle connections"
ge tcp_gw_negotiate_timeouts 1 "idle connections"
# One session table for both transports (protocol 4.2): its counters are both transports';
# the attackers' own checks (logon_replay, flood_client, abuse_client udpflood) say which
# transport refused what.
ge session_neg_firm_limit 1 "parking"
ge session_neg_replayed 2 "the replayed UDP and TCP logons"
U=$(sed -n 's/^GOOD spoofed unsealed \([0-9]*\) badmac \([0-9]*\)$/\1/p' "$WORK/good.out")
B=$(sed -n 's/^GOOD spoofed unsealed \([0-9]*\) badmac \([0-9]*\)$/\2/p' "$WORK/good.out")
[ -n "$U" ] && [ -n "$B" ] || fail "the good client did not say what it forged"
ge session_auth_missing 1 "forged datagrams without a MAC"
le session_auth_missing "$U" "forged datagrams without a MAC"
ge session_auth_bad_mac 1 "forged datagrams with a made-up MAC"
le session_auth_bad_mac "$B" "forged datagrams with a made-up MAC"
le session_clordid_reused 0 "a forged cl_ord_id 2^64-1 executed"
ge session_throttled 2 "the UDP and TCP floods"
ge session_term_throttle 2 "the UDP and TCP floods"
ge md_req_throttled 1 "the re-request flood"
ge md_req_capped 1 "the re-request flood"
say "tokexd counted:$COUNTS"

# The session log names both replays; the operator sees firm 2 at its limit.
for t in udp tcp; do
	grep -q "^tokexd: $t session: session LOGON_REPLAYED StaleTimestamp " "$LOG" ||
		fail "tokexd did not log the $t replay as LOGON_REPLAYED"
done
# A table's owner that did not answer within tokexd's 1 s (a starved CPU): ask again.
for _ in 1 2 3 4 5 6 7 8 9 10; do
	timeout -k 5 "$E2E_WAIT_S" "$CTL" -s "$SOCK" sessions >"$WORK/sessions" 2>&1 && break
	grep -q 'no answer from the table' "$WORK/sessions" || break
	sleep 0.5
done
grep -q 'session(s) of [0-9]* slots' "$WORK/sessions" || fail "tokexctl sessions: $(cat "$WORK/sessions")"
n=$(awk '$2 == 2' "$WORK/sessions" | wc -l)
[ "$n" = 8 ] || fail "tokexctl sessions shows $n sessions of firm 2, expected its limit 8"
say "tokexctl sessions: $(tail -n 1 "$WORK/sessions")"

kill -TERM "$TD_PID"
wait_until "$E2E_WAIT_S" td_gone || fail "tokexd ignored SIGTERM for $E2E_WAIT_S s"
wait "$TD_PID"
trc=$?
[ "$trc" = 0 ] || fail "tokexd exit status $trc"
grep -q '^tokexd: stopped' "$LOG" || fail "tokexd did not stop in order"
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$LOG" "$LOG.err"; then
	fail "sanitizer report from tokexd"
fi
grep '^tokexd: stats:' "$LOG" | sed "s/^/[abuse $MODE] /"
say "load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "PASS [abuse $MODE]"
