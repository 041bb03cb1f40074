#!/usr/bin/env bash
# test_tokexd_standby.sh - a hot standby follows its primary's journal (issue 14, first
# stage: the replication link and a following standby; docs/STANDBY.md).
#
# usage: test_tokexd_standby.sh rtc|pipeline TOKEXD CRASH_CLIENT TOKEXCTL TOKEX_JOURNAL
#
# Two tokexd on this machine, each with its own TAP, journal, control socket and EAL file
# prefix: a primary (replication.role primary, listen 127.0.0.1:<port>) and a standby
# (role standby) of the same configuration; crash_client trades two firms on the primary.
#   1. follow     the standby applies what the primary made durable: its `tokexctl digest`
#                 (books, accounts, positions, the control plane's state, the sessions'
#                 numbering) equals the primary's at the same seq; the standby's journal
#                 holds the primary's records byte for byte (tokex-journal dump); it is
#                 muted: its tokexctl refuses a command that changes state ("standby:
#                 read-only"), UDP order entry sent to it is dropped and counted.
#   2. kill -9    of the standby while the primary trades; restarted, it catches up from its
#                 own journal and the primary's (digests equal again). Then SIGSTOP of the
#                 standby while the primary trades past replication.send_buffer_kb (16 KiB:
#                 128 records): the primary disconnects it, "too slow"; after SIGCONT it
#                 reconnects and catches up from the primary's journal.
#   3. snapshot   a new standby (an empty journal) started after the primary pruned the
#                 start of its journal (journal.segment_kb 64, snapshot_every 500): it
#                 catches up from the primary's snapshot and the journal after it.
#   4. corrupt    the primary restarted with replication.fault_corrupt_after (testing): a
#                 record damaged on the link; the standby stops following, saying the seq
#                 and "bad CRC" in its log and in `tokexctl replication` (promotable=no),
#                 and appends nothing after the last good record.
# The lag measured (the primary's ack round trip, records and microseconds) is printed.
# Journal durability sync in rtc mode, async in pipeline mode (see DURABILITY below).
# TAP tkxs<net>_<pid>, subnets 198.18.130-139.0/24 (a lock per subnet; rtc 130-134,
# pipeline 135-139), market data 239.198.<net>.1, the link on 127.0.0.1:19300-19399.
# Needs root and /dev/net/tun, else exit 77. Every wait is bounded (e2e_lib.sh): a start,
# a stop or a catch-up E2E_WAIT_S, each client E2E_CLIENT_S.
set -u

MODE=${1:?usage: test_tokexd_standby.sh rtc|pipeline TOKEXD CRASH_CLIENT TOKEXCTL TOKEX_JOURNAL}
TOKEXD=${2:?}
CC=${3:?}
CTL=${4:?}
TJ=${5:?}

WORK=
LOG=
LABEL="standby $MODE"
. "$(cd "$(dirname "$0")" && pwd)/e2e_lib.sh"
e2e_require
for b in "$TOKEXD" "$CC" "$CTL" "$TJ"; do [ -x "$b" ] || fail "not executable: $b"; done

case $MODE in
rtc) NETS_P="130 131 132"; NETS_S="133 134" ;;
pipeline) NETS_P="135 136 137"; NETS_S="138 139" ;;
*) echo "usage: test_tokexd_standby.sh rtc|pipeline ..." >&2; exit 2 ;;
esac

# Two tokexd: P (primary) and S (standby). Their pid, log, TAP, subnet.
P_PID=
S_PID=
P_IF=
S_IF=
cleanup() {
	for pid in $P_PID $S_PID; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rm -rf "/var/run/dpdk/tokexd-$pid"
	done
	[ -n "$P_IF" ] && ip link del "$P_IF" 2>/dev/null
	[ -n "$S_IF" ] && ip link del "$S_IF" 2>/dev/null
	[ -n "$WORK" ] && [ -z "${TKX_KEEP:-}" ] && rm -rf "$WORK" # TKX_KEEP=1: keep it to debug
}
trap cleanup EXIT
trap 'exit 1' INT TERM

e2e_lock_net "$NETS_P"
P_NET=$NET P_KIP=$KIP P_TIP=$TIP
e2e_lock_net "$NETS_S"
S_NET=$NET S_KIP=$KIP S_TIP=$TIP
WORK=$(mktemp -d "/tmp/tkx-standby-$MODE.XXXXXX")
STATE=$WORK/state
mkdir -p "$STATE"

# The link's port: 19300-19399, one free now (from the subnet, then at random).
LPORT=$((19300 + P_NET % 100))
for _ in 1 2 3 4 5 6 7 8; do
	port_busy "$LPORT" || break
	LPORT=$((19300 + RANDOM % 100))
done
port_busy "$LPORT" && fail "no free port in 19300-19399 on 127.0.0.1"

CORES="mode: rtc"
DURABILITY=sync
[ "$MODE" = pipeline ] && CORES="mode: pipeline
cores:
  rx: 0
  match: [1]"
# pipeline: durability async. On a 2-CPU host pipeline mode leaves no CPU free of the data
# path, so the journal thread shares the RX lcore's CPU; with sync, two primaries halted on
# "no durability within 10 s" while a loaded machine also ran the standby (fdatasync and
# snapshots of both). The link follows the same records either way.
[ "$MODE" = pipeline ] && DURABILITY=async
# write_cfg NAME NET ROLE-LINES EXTRA-JOURNAL-LINES
write_cfg() {
	cat >"$WORK/$1.yaml" <<EOF
# test_tokexd_standby_$MODE: $1 (generated)
$CORES
md:
  group: 239.198.$2.1
  port: $((17400 + $2))
  snapshot_ms: 500
sessions:
  max: 8
  retransmit_depth: 16384
  throttle_grace: 100000000
journal:
  dir: $WORK/$1.journal
  durability: $DURABILITY
  snapshot_every: 500
  segment_kb: 64
  stall_ms: 600000
control:
  socket: $WORK/$1.sock
replication:
$3
firms:
  - {id: 1, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d31}
  - {id: 2, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d32}
EOF
}
write_cfg primary "$P_NET" "  role: primary
  listen: 127.0.0.1:$LPORT
  send_buffer_kb: 16"
write_cfg standby "$S_NET" "  role: standby
  primary: 127.0.0.1:$LPORT"

N=0
# start WHO (primary|standby): tokexd on its TAP; sets P_PID/S_PID, LOG. 0 ready.
start() {
	local who=$1 net kip tip ifc pid
	N=$((N + 1))
	LOG=$WORK/$who.$N.log
	if [ "$who" = primary ]; then net=$P_NET kip=$P_KIP tip=$P_TIP; else net=$S_NET kip=$S_KIP tip=$S_TIP; fi
	ifc=tkxs${net}_$$
	ifc=${ifc:0:15}
	"$TOKEXD" -c "$WORK/$who.yaml" --vdev "net_tap0,iface=$ifc" --ip "$tip" --no-tcp \
		--seconds 3600 -- --log-level='*:warning' >"$LOG" 2>"$LOG.err" &
	pid=$!
	if [ "$who" = primary ]; then P_PID=$pid P_IF=$ifc; else S_PID=$pid S_IF=$ifc; fi
	TD_PID=$pid
	wait_until "$E2E_WAIT_S" td_started
	grep -q "^tokexd: ready" "$LOG" || fail "$who exited or was not ready in $E2E_WAIT_S s"
	ip addr add "$kip/24" dev "$ifc" 2>/dev/null || fail "cannot address $ifc"
	ip link set "$ifc" up || fail "cannot bring $ifc up"
	grep -E '^tokexd: (journal|replication)' "$LOG" | sed "s/^/[$LABEL] $who $N: /"
}
# stop WHO SIGNAL
stop() {
	local pid
	if [ "$1" = primary ]; then pid=$P_PID; else pid=$S_PID; fi
	[ -n "$pid" ] || return 0
	kill "-$2" "$pid" 2>/dev/null
	TD_PID=$pid
	wait_until "$E2E_WAIT_S" td_gone || fail "$1 did not stop in $E2E_WAIT_S s"
	wait "$pid" 2>/dev/null
	RC=$?
	rm -rf "/var/run/dpdk/tokexd-$pid"
	if [ "$1" = primary ]; then P_PID=; else S_PID=; fi
	[ "$2" = KILL ] || [ "$RC" = 0 ] || fail "$1 exit status $RC after SIG$2"
}
ctl() { timeout -k 5 "$E2E_WAIT_S" "$CTL" -s "$WORK/$1.sock" "${@:2}"; }
field() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1" | head -n 1; }

C1=
client() {
	[ -n "$C1" ] || C1=$(awk '$1 == "tokexd:" && $2 == "contract" { print $3; exit }' "$WORK"/primary.1.log)
	timeout -k 5 "$E2E_CLIENT_S" "$CC" "$@" --udp "$P_TIP:7411" --state "$STATE" \
		--contract "$C1" >>"$WORK/client.log" 2>&1 || fail "crash_client $1 failed: $(tail -5 "$WORK/client.log")"
}

# The standby has applied everything the primary made durable.
caught_up() {
	local p s
	p=$(ctl primary replication 2>/dev/null) || return 1
	s=$(ctl standby replication 2>/dev/null) || return 1
	local pd sa
	pd=$(field "$p" durable)
	sa=$(field "$s" applied)
	[ -n "$pd" ] && [ "$pd" = "$sa" ] && [ "$(field "$s" primary_durable)" = "$pd" ]
}
# Digests of both at the same seq (nothing trades meanwhile).
same_digest() {
	wait_until "$E2E_WAIT_S" caught_up || fail "$1: the standby did not catch up: $(ctl standby replication)"
	local dp ds
	dp=$(ctl primary digest) || fail "primary digest: $dp"
	ds=$(ctl standby digest) || fail "standby digest: $ds"
	echo "[$LABEL] $1: primary $dp"
	echo "[$LABEL] $1: standby $ds"
	[ "$(field "$dp" seq)" = "$(field "$ds" seq)" ] || fail "$1: digests of different seqs"
	[ "$(field "$dp" books)" = "$(field "$ds" books)" ] || fail "$1: the books differ"
	[ "$(field "$dp" sessions)" = "$(field "$ds" sessions)" ] || fail "$1: the sessions' numbering differs"
}
sanitizers_quiet() {
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$WORK"/*.log*; then
		fail "sanitizer report from tokexd"
	fi
}

# ---- 1. follow ---------------------------------------------------------------------------
start primary
start standby
client run --orders 1500 --seed 7
same_digest follow
# The standby's journal is the primary's, record for record (the primary's may be pruned at
# its start: the standby's holds everything from seq 1 on here).
"$TJ" dump "$WORK/standby.journal" >"$WORK/s.dump" || fail "tokex-journal dump of the standby's journal"
"$TJ" dump "$WORK/primary.journal" >"$WORK/p.dump" || fail "tokex-journal dump of the primary's journal"
first=$(head -n 1 "$WORK/p.dump" | sed 's/^seq=\([0-9]*\) .*/\1/')
sed -n "/^seq=$first /,\$p" "$WORK/s.dump" | cmp -s - "$WORK/p.dump" ||
	fail "the standby's journal differs from the primary's from seq $first"
grep -q ' epoch=1 ' "$WORK/s.dump" || fail "no epoch in the dump"
echo "[$LABEL] follow: the standby's journal equals the primary's from seq $first ($(wc -l <"$WORK/p.dump") records)"
# Lag while trading: the primary's view (ack round trip of the newest batch).
client run --orders 1500 --seed 8 &
CPID=$!
lags=
for _ in $(seq 1 30); do
	kill -0 "$CPID" 2>/dev/null || break
	r=$(ctl primary replication | grep '^standby=') && lags="$lags $(field "$r" lag_records)/$(field "$r" lag_us)"
	sleep 0.2
done
wait "$CPID" || fail "crash_client run (lag) failed"
echo "[$LABEL] lag while trading (records/us, the primary's ack round trip):$lags"
same_digest "follow under load"
# Muted: a state change refused; UDP order entry dropped and counted.
out=$(ctl standby halt all 2>&1) && fail "the standby ran 'halt all': $out"
grep -q 'standby: read-only' <<<"$out" || fail "the standby's refusal: $out"
mac=$(sed -n 's/^tokexd: ready: port .* mac \([0-9A-Fa-f:]*\) .*/\1/p' "$WORK/standby.2.log")
[ -n "$mac" ] || fail "no MAC in the standby's ready line"
ip neigh replace "$S_TIP" lladdr "$mac" dev "$S_IF" nud permanent || fail "ip neigh"
for _ in 1 2 3 4 5; do echo -n "not a request" >"/dev/udp/$S_TIP/7411"; done
refused_udp() { [ "$(field "$(ctl standby replication)" refused_udp)" -ge 5 ] 2>/dev/null; }
wait_until "$E2E_WAIT_S" refused_udp || fail "UDP to the standby not counted: $(ctl standby replication)"
echo "[$LABEL] muted: 'halt all' refused (standby: read-only), UDP order entry dropped and counted"

# ---- 2. kill -9 of the standby, restart: catches up ---------------------------------------
stop standby KILL
client run --orders 200 --seed 9 # few: the primary keeps them (a snapshot every 500, 512 records a segment)
start standby
same_digest "after kill -9"
grep -q 'following from there' "$LOG" || fail "the restarted standby did not resume from its journal"

# ---- 2b. a standby too slow (SIGSTOP): disconnected with the reason, then catches up -----
# More than the bound (16 KiB: 128 records), less than the primary keeps (the journal after
# the snapshot before the newest: 500 records at least): it must not need a snapshot.
kill -STOP "$S_PID"
client run --orders 300 --seed 11
slow() { grep -q 'disconnected: too slow: ' "$WORK"/primary.*.log; }
if ! wait_until "$E2E_WAIT_S" slow; then
	kill -CONT "$S_PID"
	fail "the primary did not disconnect the stopped standby (send_buffer_kb 16: 128 records)"
fi
kill -CONT "$S_PID"
same_digest "after too slow"
grep -q 'the primary said: too slow' "$WORK"/standby.*.log || fail "the standby did not log the reason"
echo "[$LABEL] too slow: $(grep -h 'disconnected: too slow' "$WORK"/primary.*.log | head -n 1 | sed 's/^tokexd: replication: //')"

# ---- 3. a standby behind what the primary keeps: from the primary's snapshot --------------
stop standby TERM
client run --orders 2500 --seed 10
pfirst=$("$TJ" verify "$WORK/primary.journal" | sed -n 's/.*seq \([0-9]*\)\.\..*/\1/p')
sverify=$("$TJ" verify "$WORK/standby.journal" | sed -n 's/.*seq [0-9]*\.\.\([0-9]*\),.*/\1/p')
[ -n "$pfirst" ] && [ -n "$sverify" ] && [ "$pfirst" -gt $((sverify + 1)) ] ||
	fail "the primary did not prune past the standby (first $pfirst, standby's last $sverify)"
start standby
grep -q 'caught up from its snapshot of seq' "$LOG" || fail "the standby did not catch up from a snapshot"
same_digest "from a snapshot"
echo "[$LABEL] snapshot: $(grep 'caught up from its snapshot' "$LOG" | sed 's/^tokexd: replication: standby: //')"

# ---- 4. a record corrupted on the link: the standby stops, says why -----------------------
stop primary TERM
sed -i "s/^  role: primary$/  role: primary\n  fault_corrupt_after: 300/" "$WORK/primary.yaml"
start primary
connected() { [ "$(field "$(ctl primary replication)" standbys)" = 1 ]; }
wait_until "$E2E_WAIT_S" connected || fail "the standby did not reconnect to the restarted primary"
client run --orders 1500 --seed 12
# An error: on the standby's standard error (standby.N.log.err).
stopped() { grep -q 'STOPPED following' "$WORK"/standby.*.log.err; }
wait_until "$E2E_WAIT_S" stopped || fail "the standby did not stop on the damaged record: $(ctl standby replication)"
bad=$(sed -n 's/^tokexd: replication: TESTING: seq \([0-9]*\) damaged on the link$/\1/p' "$WORK"/primary.*.log | head -n 1)
[ -n "$bad" ] || fail "the primary damaged no record"
grep -q "STOPPED following: seq $bad (seq $bad expected): bad CRC" "$WORK"/standby.*.log.err ||
	fail "the standby's log does not name seq $bad and the CRC: $(grep STOPPED "$WORK"/standby.*.log.err)"
r=$(ctl standby replication)
grep -q 'state=stopped promotable=no' <<<"$r" && grep -q "last: seq $bad (seq $bad expected): bad CRC" <<<"$r" ||
	fail "tokexctl replication: $r"
last=$(field "$r" applied)
[ "$last" = $((bad - 1)) ] || fail "the standby applied up to $last, the bad record is $bad"
echo "[$LABEL] corrupt: $(grep -h 'STOPPED following' "$WORK"/standby.*.log.err | head -n 1)"

stop standby TERM
stop primary TERM
sanitizers_quiet
echo "test_tokexd_standby_$MODE: ok"
