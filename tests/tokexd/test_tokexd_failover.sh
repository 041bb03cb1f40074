#!/usr/bin/env bash
# test_tokexd_failover.sh - hot standby failover with a lease in etcd (issue 14; docs/STANDBY.md
# "Lease and fencing", "Promotion").
#
# usage: test_tokexd_failover.sh rtc|pipeline TOKEXD CRASH_CLIENT TOKEXCTL TOKEX_JOURNAL
#
# Three etcd members of its own (Debian's etcd-server; data directories in /dev/shm,
# directory; stopped at the end), and tokexd nodes on their own TAPs, journals, control
# sockets and EAL prefixes, each with replication.etcd the three members, lease_s 5
# (TKX_FAILOVER_LEASE_S), lease_margin_ms 1000, journal.durability sync-replicated:
#   1. kill -9   A (primary) trades under crash_client (two firms, UDP); B follows. kill -9
#                of A while the client trades: B takes the lease once A's expired and is
#                primary within lease_s + 1 s of the kill (measured from the kill to B's
#                PROMOTED line, both CLOCK_REALTIME; printed; the bound asserted is lease_s
#                + 1 s, TKX_FAILOVER_BOUND_MS overrides it for a loaded machine), with epoch
#                e + 1. crash_client verify against B: every ack and fill the client had
#                from A retransmitted byte-identical, numbering without gaps, every trade
#                id once per side, the books consistent with the streams (an IOC probe).
#                B's books equal A's as of A's last record that left it: B's journal equals
#                A's record for record up to B's promotion (A may hold a few more, durable
#                on its disk but never acknowledged by B: none of their outputs left A).
#   2. SIGSTOP   C (a new standby, empty journal) follows B. B is stopped with SIGSTOP under
#                load past its lease; C takes over (epoch e + 2); SIGCONT: B sends nothing
#                after its lease ran out (tshark on B's TAP: no packet from B's address
#                after the SIGCONT, C having taken the lease before it), it says FENCED
#                and exits 3; restarted as a standby of C on its own journal it follows C
#                when its last record is C's (its journal then equals C's), and is refused
#                ("diverged", or holding records C lacks) when it holds records past C's
#                promotion - then it follows from an empty journal.
#   3. etcd      one member of three killed: C still holds (renewals go on), trading goes
#                on, B (a standby of C) is not promoted. Two of three: C stops accepting
#                (FENCED) before its lease could have expired (its log says when) and nobody
#                is promoted while etcd has no quorum (B watched for 3 leases); the quorum
#                back, B (which followed C to its end) is promoted, epoch e + 3, and the
#                firms' streams verify at it. Each node's TCP gateway: a standby's listens
#                only from its promotion on.
# Subnets 198.18.150-154.0/24 (a lock per subnet), etcd on 127.0.0.1 ports 19550-19599 (a
# lock per block of 25). Needs root, /dev/net/tun, etcd, tshark, else exit 77. Every wait
# is bounded (e2e_lib.sh): a start, a stop, a promotion E2E_WAIT_S, a client E2E_CLIENT_S.
set -u

MODE=${1:?usage: test_tokexd_failover.sh rtc|pipeline TOKEXD CRASH_CLIENT TOKEXCTL TOKEX_JOURNAL}
TOKEXD=${2:?}
CC=${3:?}
CTL=${4:?}
TJ=${5:?}

WORK=
LOG=
LABEL="failover $MODE"
. "$(cd "$(dirname "$0")" && pwd)/e2e_lib.sh"
e2e_require
for b in "$TOKEXD" "$CC" "$CTL" "$TJ"; do [ -x "$b" ] || fail "not executable: $b"; done
command -v etcd >/dev/null || skip "etcd missing (Debian etcd-server; scripts/setup)"
command -v tshark >/dev/null || skip "tshark missing (scripts/setup)"
command -v curl >/dev/null || skip "curl missing (scripts/setup)"
case $MODE in rtc | pipeline) ;; *) echo "usage: test_tokexd_failover.sh rtc|pipeline ..." >&2; exit 2 ;; esac

# A lease of 5 s: renewals every 1.7 s, each with 2.3 s to get through before the margin.
# On a loaded 2-CPU machine (load 15-20, ASan, three etcd members, busy-polling lcores) etcd
# answered a keepalive late enough to fence a healthy primary with a 2 s lease (pipeline
# mode). TKX_FAILOVER_LEASE_S=2 runs the tighter one.
LEASE_S=${TKX_FAILOVER_LEASE_S:-5}
MARGIN_MS=$((LEASE_S >= 4 ? 1000 : 500))
BOUND_MS=${TKX_FAILOVER_BOUND_MS:-$((LEASE_S * 1000 + 1000))}

# Nodes: NAME -> pid, TAP, subnet. Up to four tokexd over the test (A, B, C, D; and R, A's
# journal recovered alone); at most three at once.
declare -A PID IF NET KIP TIP
ETCD_PIDS=()
CAP_PID=
cleanup() {
	for n in "${!PID[@]}"; do
		local pid=${PID[$n]}
		[ -n "$pid" ] || continue
		kill -CONT "$pid" 2>/dev/null
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rm -rf "/var/run/dpdk/tokexd-$pid"
	done
	[ -n "$CAP_PID" ] && kill "$CAP_PID" 2>/dev/null
	for pid in "${ETCD_PIDS[@]}"; do
		[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	for n in "${!IF[@]}"; do ip link del "${IF[$n]}" 2>/dev/null; done
	[ -n "${ETCD_DIR:-}" ] && rm -rf "$ETCD_DIR"
	[ -n "$WORK" ] && [ -z "${TKX_KEEP:-}" ] && rm -rf "$WORK" # TKX_KEEP=1: keep it to debug
}
trap cleanup EXIT
trap 'exit 1' INT TERM

WORK=$(mktemp -d "/tmp/tkx-failover-$MODE.XXXXXX")
STATE=$WORK/state
mkdir -p "$STATE"

# Subnets: one per node that runs at once (three), from 150-154.
SUBNETS=()
for _ in 1 2 3; do
	e2e_lock_net "150 151 152 153 154"
	SUBNETS+=("$NET")
done
# etcd's and the links' ports: a block of 25 of 19550-19599, locked.
PORTS=
for base in 19550 19575; do
	exec {plock}>"/tmp/tokex-e2e-etcd-$base.lock"
	if flock -n "$plock"; then PORTS=$base; break; fi
	exec {plock}>&-
done
if [ -z "$PORTS" ]; then
	exec {plock}>"/tmp/tokex-e2e-etcd-19550.lock"
	flock -w "${TKX_E2E_LOCK_S:-1800}" "$plock" || fail "ports 19550-19599 held by other runs"
	PORTS=19550
fi
for p in $(seq "$PORTS" $((PORTS + 24))); do port_busy "$p" && fail "127.0.0.1:$p is in use"; done
EURLS=()
CLUSTER=
for i in 0 1 2; do
	EURLS+=("http://127.0.0.1:$((PORTS + i))")
	CLUSTER="$CLUSTER${CLUSTER:+,}e$i=http://127.0.0.1:$((PORTS + 3 + i))"
done
LINK_PORT=$((PORTS + 10)) # each node listens on LINK_PORT + its index

# ---- etcd -------------------------------------------------------------------------------
# nice -10 and data directories in memory (/dev/shm): in production the members run on
# machines and disks of their own; here they share two CPUs with busy-polling lcores and a
# disk with the journals' fdatasyncs, and a starved member missed its heartbeats (leader
# lost, a lease's expiry or a keepalive seconds late: a healthy primary fenced).
ETCD_DIR=$(mktemp -d /dev/shm/tkx-etcd.XXXXXX 2>/dev/null || mktemp -d "$WORK/etcd.XXXXXX")
etcd_start() {
	local i=$1
	nice -n -10 etcd --name "e$i" --data-dir "$ETCD_DIR/etcd$i" \
		--listen-client-urls "${EURLS[$i]}" --advertise-client-urls "${EURLS[$i]}" \
		--listen-peer-urls "http://127.0.0.1:$((PORTS + 3 + i))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((PORTS + 3 + i))" \
		--initial-cluster "$CLUSTER" --initial-cluster-token "tkx-$$" \
		>"$WORK/etcd$i.log" 2>&1 &
	ETCD_PIDS[$i]=$!
}
etcd_healthy() { curl -s -m 5 "${EURLS[$1]}/health" 2>/dev/null | grep -q '"health":"true"'; }
all_healthy() { etcd_healthy 0 && etcd_healthy 1 && etcd_healthy 2; }
for i in 0 1 2; do etcd_start "$i"; done
wait_until "$E2E_WAIT_S" all_healthy || fail "etcd did not become healthy: $(tail -5 "$WORK/etcd0.log")"
echo "[$LABEL] etcd: three members on ${EURLS[*]}"

# ---- tokexd nodes ------------------------------------------------------------------------
CORES="mode: rtc"
[ "$MODE" = pipeline ] && CORES="mode: pipeline
cores:
  rx: 0
  match: [1]"
KEY=/tokex-test/$$/leader
NODE_IDX=0
declare -A LPORT
# write_cfg NAME SUBNET ROLE PRIMARY-NAME|- [EXTRA-REPLICATION-LINES]
write_cfg() {
	local name=$1 net=$2 role=$3 prim=$4 etcd_list
	etcd_list=$(printf '"%s", ' "${EURLS[@]}")
	LPORT[$name]=$((LINK_PORT + NODE_IDX))
	NODE_IDX=$((NODE_IDX + 1))
	{
		echo "# test_tokexd_failover_$MODE: $name (generated)"
		echo "$CORES"
		cat <<EOF
md:
  group: 239.198.$net.1
  port: $((17400 + net))
  snapshot_ms: 500
sessions:
  max: 8
  retransmit_depth: 16384
  throttle_grace: 100000000
journal:
  dir: $WORK/$name.journal
  durability: sync-replicated
  snapshot_every: 500
  stall_ms: 600000
control:
  socket: $WORK/$name.sock
firms:
  - {id: 1, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d31}
  - {id: 2, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d32}
EOF
		[ "$role" = none ] && return
		echo "replication:"
		echo "  role: $role"
		echo "  listen: 127.0.0.1:${LPORT[$name]}"
		[ "$prim" = - ] || echo "  primary: 127.0.0.1:${LPORT[$prim]}"
		echo "  etcd: [${etcd_list%, }]"
		echo "  etcd_key: $KEY"
		echo "  lease_s: $LEASE_S"
		echo "  lease_margin_ms: $MARGIN_MS"
	} >"$WORK/$name.yaml"
}

N=0
# Each node's TCP order entry: 127.0.0.1, a port of the block (a standby's gateway starts
# only at its promotion).
tcp_port() { echo $((PORTS + 15 + $(printf '%d' "'$1") - 65)); }
# start NAME SUBNET: tokexd on a TAP of that subnet; 0 ready (its log in LOG).
start() {
	local name=$1 net=$2 ifc pid
	N=$((N + 1))
	LOG=$WORK/$name.$N.log
	NET[$name]=$net KIP[$name]=198.18.$net.1 TIP[$name]=198.18.$net.2
	ifc=tkxf${net}_$$
	ifc=${ifc:0:15}
	IF[$name]=$ifc
	"$TOKEXD" -c "$WORK/$name.yaml" --vdev "net_tap0,iface=$ifc" --ip "${TIP[$name]}" \
		--tcp "127.0.0.1:$(tcp_port "$name")" --seconds 3600 -- --log-level='*:warning' \
		>"$LOG" 2>"$LOG.err" &
	pid=$!
	PID[$name]=$pid
	TD_PID=$pid
	wait_until "$E2E_WAIT_S" td_started
	grep -q "^tokexd: ready" "$LOG" || fail "$name exited or was not ready in $E2E_WAIT_S s"
	ip addr add "${KIP[$name]}/24" dev "$ifc" 2>/dev/null || fail "cannot address $ifc"
	ip link set "$ifc" up || fail "cannot bring $ifc up"
	grep -E '^tokexd: (journal|replication|lease)' "$LOG" | sed "s/^/[$LABEL] $name: /"
	eval "LOG_$name=\$LOG"
}
log_of() { local v="LOG_$1"; echo "${!v}"; }
# stop NAME SIGNAL [expected status]
stop() {
	local name=$1 sig=$2 want=${3:-0} pid=${PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill "-$sig" "$pid" 2>/dev/null
	TD_PID=$pid
	wait_until "$E2E_WAIT_S" td_gone || fail "$name did not stop in $E2E_WAIT_S s"
	wait "$pid" 2>/dev/null
	RC=$?
	rm -rf "/var/run/dpdk/tokexd-$pid"
	PID[$name]=
	ip link del "${IF[$name]}" 2>/dev/null
	[ "$sig" = KILL ] || [ "$RC" = "$want" ] || fail "$name exit status $RC after SIG$sig (wanted $want)"
}
# A node that exits by itself (fenced): its status.
reap() {
	local name=$1 pid=${PID[$1]}
	TD_PID=$pid
	wait_until "$E2E_WAIT_S" td_gone || fail "$name did not exit in $E2E_WAIT_S s"
	wait "$pid" 2>/dev/null
	RC=$?
	rm -rf "/var/run/dpdk/tokexd-$pid"
	PID[$name]=
	ip link del "${IF[$name]}" 2>/dev/null
}
ctl() { timeout -k 5 "$E2E_WAIT_S" "$CTL" -s "$WORK/$1.sock" "${@:2}"; }
field() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1" | head -n 1; }

C1=
# client WHO MODE ARGS...: crash_client against node WHO.
client() {
	local who=$1
	shift
	[ -n "$C1" ] || C1=$(awk '$1 == "tokexd:" && $2 == "contract" { print $3; exit }' "$(log_of A)")
	timeout -k 5 "$E2E_CLIENT_S" "$CC" "$@" --udp "${TIP[$who]}:7411" --state "$STATE" \
		--contract "$C1" >>"$WORK/client.log" 2>&1
}

# The standby $2 has applied all that the primary $1 made durable, and follows.
caught_up() {
	local p s pd
	p=$(ctl "$1" replication 2>/dev/null) || return 1
	s=$(ctl "$2" replication 2>/dev/null) || return 1
	pd=$(field "$p" durable)
	[ -n "$pd" ] && [ "$pd" = "$(field "$s" applied)" ] && grep -q ' following$' <<<"$p"
}
role_is() { ctl "$1" replication 2>/dev/null | grep -q "^role=$2 "; }
promoted() { grep -q '^tokexd: replication: PROMOTED' "$(log_of "$1")"; }
promoted_ns() { sed -n 's/^tokexd: replication: PROMOTED: .*unix_ns=\([0-9]*\)$/\1/p' "$(log_of "$1")" | head -n 1; }
epoch_of() { field "$(ctl "$1" replication)" epoch; }
sanitizers_quiet() {
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$WORK"/*.log*; then
		fail "sanitizer report from tokexd"
	fi
}
client_trading() { [ -f "$WORK/ready" ] || ! kill -0 "$CPID" 2>/dev/null; }

# ---- 1. kill -9 of the primary under load ---------------------------------------------------
S1=${SUBNETS[0]} S2=${SUBNETS[1]} S3=${SUBNETS[2]}
write_cfg A "$S1" primary -
write_cfg B "$S2" standby A
start A "$S1"
grep -q "^tokexd: lease: primary: holds $KEY, epoch 2" "$(log_of A)" || fail "A did not take the lease with epoch 2"
start B "$S2"
port_busy "$(tcp_port B)" && fail "the standby B listens for TCP order entry"
watches_a() { ctl B replication | grep -q '^lease=watching .*holder="epoch=2 '; }
wait_until "$E2E_WAIT_S" watches_a || fail "B does not watch A's lease: $(ctl B replication)"
client A run --orders 400 --seed 21 || fail "crash_client run on A failed: $(tail -5 "$WORK/client.log")"
wait_until "$E2E_WAIT_S" caught_up A B || fail "B did not catch up with A: $(ctl B replication)"
echo "[$LABEL] kill: A primary (epoch 2), B following: $(ctl B replication | head -n 1)"

rm -f "$WORK/stop" "$WORK/ready"
client A run --orders 4000 --seed 22 --stop "$WORK/stop" --ready "$WORK/ready" &
CPID=$!
wait_until "$E2E_CLIENT_S" client_trading
[ -f "$WORK/ready" ] || { wait "$CPID"; fail "crash_client did not start trading on A"; }
# Some trading past the start: A's durable seq moves on by 300 records at least.
d0=$(field "$(ctl A replication)" durable)
moved() { [ "$(field "$(ctl A replication)" durable)" -ge $((d0 + 300)) ] 2>/dev/null || ! kill -0 "$CPID" 2>/dev/null; }
wait_until "$E2E_CLIENT_S" moved
kill -0 "$CPID" 2>/dev/null || fail "the client ended before the kill: $(tail -5 "$WORK/client.log")"
T_KILL=$(date +%s%N)
kill -KILL "${PID[A]}"
touch "$WORK/stop"
echo "[$LABEL] kill: A killed -9 while the client traded"
wait "$CPID" || fail "crash_client run failed at the kill: $(tail -5 "$WORK/client.log")"
stop A KILL
LOG=$(log_of B)
wait_until "$E2E_WAIT_S" promoted B || fail "B was not promoted: $(ctl B replication)"
T_PROM=$(promoted_ns B)
[ -n "$T_PROM" ] || fail "no time in B's PROMOTED line"
FAILOVER_MS=$(((T_PROM - T_KILL) / 1000000))
echo "[$LABEL] kill: $(grep -h '^tokexd: lease: TAKEN' "$LOG" | sed 's/^tokexd: lease: //')"
echo "[$LABEL] kill: $(grep -h '^tokexd: replication: PROMOTED' "$LOG" | sed 's/^tokexd: replication: //')"
echo "[$LABEL] kill: FAILOVER measured $FAILOVER_MS ms from kill -9 to B's PROMOTED (lease_s $LEASE_S; bound $BOUND_MS ms)"
[ "$FAILOVER_MS" -le "$BOUND_MS" ] || fail "failover took $FAILOVER_MS ms, more than $BOUND_MS ms"
wait_until "$E2E_WAIT_S" role_is B primary || fail "B's tokexctl does not say primary: $(ctl B replication)"
EB=$(epoch_of B)
[ "$EB" = 3 ] || fail "B's epoch is $EB, not 3"
tcp_open() { port_busy "$(tcp_port B)"; }
wait_until "$E2E_WAIT_S" tcp_open || fail "B's TCP gateway is not listening after its promotion"
client B verify || fail "crash_client verify against B (the new primary): $(tail -20 "$WORK/client.log")"
echo "[$LABEL] kill: the client's acks and fills retransmitted identical by B, no trade twice, books consistent"
# B's books equal A's as of A's last record that left it: B holds A's journal record for
# record up to where it was promoted (tokex-journal dump: seq, epoch, writer, type,
# payload), and the same inputs through the same engine are the same books
# (test_tokexd_standby's digests). A may hold a few records more, durable on its own disk
# but never acknowledged by B: with sync-replicated nothing they caused left A (the
# client's verify above found every message it had at B).
"$TJ" dump "$WORK/A.journal" >"$WORK/A.dump" || fail "dump of A's journal"
"$TJ" dump "$WORK/B.journal" >"$WORK/B.dump" || fail "dump of B's journal"
a_first=$(head -n 1 "$WORK/A.dump" | sed 's/^seq=\([0-9]*\) .*/\1/')
a_last=$(tail -n 1 "$WORK/A.dump" | sed 's/^seq=\([0-9]*\) .*/\1/')
b_from=$(sed -n 's/^tokexd: replication: PROMOTED: primary of epoch [0-9]* from seq \([0-9]*\) .*/\1/p' "$LOG")
echo "[$LABEL] kill: A's journal seq $a_first..$a_last; B was promoted from seq $b_from ($((a_last - b_from + 1)) record(s) of A never replicated, none of their outputs sent)"
[ -n "$a_last" ] && [ -n "$b_from" ] || fail "no seqs from the journals"
common=$((a_last < b_from - 1 ? a_last : b_from - 1))
cmp -s <(sed -n "/^seq=$a_first /,/^seq=$common /p" "$WORK/A.dump") \
	<(sed -n "/^seq=$a_first /,/^seq=$common /p" "$WORK/B.dump") ||
	fail "B's journal differs from A's up to seq $common"
[ "$(sed -n "/^seq=$common /p" "$WORK/B.dump" | wc -l)" = 1 ] || fail "B's journal lacks seq $common"
grep -q ' epoch=3 ' "$WORK/B.dump" || fail "B wrote nothing under epoch 3"
echo "[$LABEL] kill: B's journal equals A's up to seq $common: the same books"

# ---- 2. SIGSTOP of the primary past its lease --------------------------------------------------
write_cfg C "$S1" standby B
start C "$S1"
wait_until "$E2E_WAIT_S" caught_up B C || fail "C did not catch up with B: $(ctl C replication)"
# the wire: B's TAP, every packet, from now on
tshark -q -i "${IF[B]}" -w "$WORK/B.pcap" >"$WORK/tshark.B.log" 2>&1 &
CAP_PID=$!
capturing() { grep -q "Capturing on" "$WORK/tshark.$1.log"; }
wait_until "$E2E_WAIT_S" capturing B || fail "tshark did not start: $(cat "$WORK/tshark.B.log")"
rm -f "$WORK/stop" "$WORK/ready"
client B run --orders 4000 --seed 23 --stop "$WORK/stop" --ready "$WORK/ready" &
CPID=$!
wait_until "$E2E_CLIENT_S" client_trading
[ -f "$WORK/ready" ] || { wait "$CPID"; fail "crash_client did not start trading on B"; }
d0=$(field "$(ctl B replication)" durable)
moved() { [ "$(field "$(ctl B replication)" durable)" -ge $((d0 + 300)) ] 2>/dev/null || ! kill -0 "$CPID" 2>/dev/null; }
wait_until "$E2E_CLIENT_S" moved
kill -0 "$CPID" 2>/dev/null || fail "the client ended before the stop: $(tail -5 "$WORK/client.log")"
b_seq_stop=$("$TJ" verify "$WORK/B.journal" 2>/dev/null | sed -n 's/.*seq [0-9]*\.\.\([0-9]*\),.*/\1/p' | head -n 1)
T_STOP=$(date +%s%N)
kill -STOP "${PID[B]}"
echo "[$LABEL] stop: B stopped (SIGSTOP) while the client traded"
LOG=$(log_of C)
if ! wait_until "$E2E_WAIT_S" promoted C; then
	kill -CONT "${PID[B]}"
	fail "C was not promoted while B was stopped: $(ctl C replication)"
fi
touch "$WORK/stop"
T_CONT=$(date +%s%N)
kill -CONT "${PID[B]}"
echo "[$LABEL] stop: C promoted $((($(promoted_ns C) - T_STOP) / 1000000)) ms after the SIGSTOP; B continued (SIGCONT)"
wait "$CPID" # the client lost its primary: its result is not the test's
reap B
LOG=$(log_of B)
[ "$RC" = 3 ] || fail "B exited $RC after SIGCONT, not 3 (fenced)"
grep -q '^tokexd: FENCED' "$LOG" || fail "B did not say FENCED"
echo "[$LABEL] stop: B: $(grep -h '^tokexd: FENCED' "$LOG" | cut -c1-100)..."
sleep 0.5 # tshark's last buffered packets (it is stopped next; nothing waits on B any more)
kill "$CAP_PID" 2>/dev/null
wait "$CAP_PID" 2>/dev/null
CAP_PID=
# Nothing from B's address after the SIGCONT (B fenced itself on waking: its lease had run
# out while it was stopped). The SIGCONT time is the test's own, on the same clock.
tshark -r "$WORK/B.pcap" -Y "ip.src == ${TIP[B]}" -T fields -e frame.time_epoch >"$WORK/B.times" 2>/dev/null ||
	fail "tshark could not read the capture"
n_all=$(wc -l <"$WORK/B.times")
after=$(awk -v t="$T_CONT" '$1 * 1e9 > t + 0 { n++ } END { print n + 0 }' "$WORK/B.times")
echo "[$LABEL] stop: on the wire: $n_all packet(s) from B before the SIGCONT, $after after it"
[ "$n_all" -gt 0 ] || fail "no packet from B captured at all: the capture proves nothing"
[ "$after" = 0 ] || fail "B sent $after packet(s) after its lease ran out"
# B's journal: nothing appended after the stop beyond what it had made durable then, and C
# holds those records (sync-replicated) or refuses B's others when B rejoins.
c_from=$(sed -n 's/^tokexd: replication: PROMOTED: primary of epoch [0-9]* from seq \([0-9]*\) .*/\1/p' "$(log_of C)")
b_last=$("$TJ" verify "$WORK/B.journal" 2>/dev/null | sed -n 's/.*seq [0-9]*\.\.\([0-9]*\),.*/\1/p' | head -n 1)
echo "[$LABEL] stop: B's journal: seq $b_seq_stop just before the SIGSTOP, $b_last at its end; C promoted from seq $c_from"
[ "$(epoch_of C)" = 4 ] || fail "C's epoch is $(epoch_of C), not 4"
# B comes back as a standby of C on its own journal: it follows if its last record is C's
# record at that seq (it made nothing durable that C lacks), else it is refused (BYE
# "diverged": its records of epoch 3 after C's promotion are a deposed primary's).
write_cfg B "$S2" standby C
if [ "$b_last" -lt "$c_from" ]; then
	start B "$S2"
	wait_until "$E2E_WAIT_S" caught_up C B || fail "B did not rejoin as a standby of C: $(ctl B replication)"
	"$TJ" dump "$WORK/C.journal" >"$WORK/C.dump" || fail "dump of C's journal"
	"$TJ" dump "$WORK/B.journal" >"$WORK/B.dump" || fail "dump of B's journal"
	cmp -s "$WORK/B.dump" "$WORK/C.dump" || fail "B's journal after rejoining differs from C's"
	grep -q ' epoch=4 ' "$WORK/B.dump" || fail "B did not take C's epoch-4 records"
	echo "[$LABEL] stop: B rejoined as a standby of C; its journal equals C's (epochs 2, 3, 4)"
else
	# refused at its start (td_repl_bootstrap): it exits saying why
	LOG=$WORK/B.refused.log
	"$TOKEXD" -c "$WORK/B.yaml" --vdev "net_tap0,iface=tkxr${S2}_$$" --ip "198.18.$S2.2" --no-tcp \
		--seconds 3600 -- --log-level='*:warning' >"$LOG" 2>"$LOG.err" &
	TD_PID=$!
	wait_until "$E2E_WAIT_S" td_gone || fail "B (holding seq $b_last past C's promotion at $c_from) did not exit"
	wait "$TD_PID"
	rc=$?
	rm -rf "/var/run/dpdk/tokexd-$TD_PID"
	[ "$rc" != 0 ] && grep -q 'refused this standby: .*\(diverged\|holds records up to\)' "$LOG.err" ||
		fail "B holds seq $b_last past C's promotion ($c_from) and was not refused (exit $rc)"
	echo "[$LABEL] stop: B's records past C's promotion refused: $(grep -h -o 'refused this standby: .*' "$LOG.err" | cut -c1-150)"
	rm -rf "$WORK/B.journal"
	start B "$S2"
	wait_until "$E2E_WAIT_S" caught_up C B || fail "B (empty journal) did not follow C: $(ctl B replication)"
	echo "[$LABEL] stop: B restarted with an empty journal follows C"
fi
client C verify || fail "crash_client verify against C: $(tail -20 "$WORK/client.log")"

# ---- 3. etcd members lost ------------------------------------------------------------------------
# One of three, a follower: nothing changes. (Killing the leader stops renewals for an
# election - 1 to 2 s with etcd's default election timeout - which lease_s / 3 +
# lease_margin_ms must leave room for; not tested here.)
is_leader() {
	local st
	st=$(curl -s -m 5 "${EURLS[$1]}/v3/maintenance/status" -d '{}') || return 1
	[ "$(sed -n 's/.*"member_id":"\([0-9]*\)".*/\1/p' <<<"$st")" = "$(sed -n 's/.*"leader":"\([0-9]*\)".*/\1/p' <<<"$st")" ]
}
F1=
for i in 2 1 0; do is_leader "$i" || { F1=$i; break; }; done
[ -n "$F1" ] || fail "no etcd follower found"
kill -KILL "${ETCD_PIDS[$F1]}"
wait "${ETCD_PIDS[$F1]}" 2>/dev/null
ETCD_PIDS[$F1]=
r0=$(field "$(ctl C replication)" renewals)
client C run --orders 300 --seed 24 || fail "trading on C with one etcd member down: $(tail -5 "$WORK/client.log")"
renewed() { [ "$(field "$(ctl C replication)" renewals)" -ge $((r0 + 3)) ] 2>/dev/null; }
wait_until "$E2E_WAIT_S" renewed || fail "C did not renew with one member down: $(ctl C replication)"
role_is C primary || fail "C is not primary any more"
role_is B standby || fail "B is not a standby any more"
promoted B && fail "B was promoted with one etcd member down"
echo "[$LABEL] etcd: one member of three (e$F1, a follower) killed: C renews ($(ctl C replication | grep '^lease=' | cut -c1-80)), B follows"
# Two of three: no quorum. C stops accepting before its lease could have expired: the
# client's live sessions get Terminate SHUTDOWN (tshark on C's TAP, decoded with
# scripts/wireshark/tokex.lua), C exits FENCED; B is never promoted.
tshark -q -i "${IF[C]}" -w "$WORK/C.pcap" >"$WORK/tshark.C.log" 2>&1 &
CAP_PID=$!
wait_until "$E2E_WAIT_S" capturing C || fail "tshark did not start: $(cat "$WORK/tshark.C.log")"
rm -f "$WORK/stop" "$WORK/ready"
client C run --orders 100000 --seed 25 --stop "$WORK/stop" --ready "$WORK/ready" &
CPID=$!
wait_until "$E2E_CLIENT_S" client_trading
[ -f "$WORK/ready" ] || { wait "$CPID"; fail "crash_client did not start trading on C"; }
F2=
for i in 0 1 2; do [ "$i" != "$F1" ] && F2=$i && break; done
T_Q=$(date +%s%N)
kill -KILL "${ETCD_PIDS[$F2]}"
wait "${ETCD_PIDS[$F2]}" 2>/dev/null
ETCD_PIDS[$F2]=
reap C
LOG=$(log_of C)
T_FENCED=$(date +%s%N)
touch "$WORK/stop"
wait "$CPID" # its sessions were ended (Terminate SHUTDOWN): its result is not the test's
sleep 0.5 # tshark's last buffered packets
kill "$CAP_PID" 2>/dev/null
wait "$CAP_PID" 2>/dev/null
CAP_PID=
[ "$RC" = 3 ] || fail "C exited $RC without quorum, not 3 (fenced)"
grep -q '^tokexd: lease: cannot renew' "$LOG" || fail "C did not say it could not renew"
ahead=$(sed -n 's/^tokexd: FENCED: .*fenced_before_end_ms=\(-*[0-9]*\)$/\1/p' "$LOG")
[ -n "$ahead" ] && [ "$ahead" -ge 0 ] || fail "C did not fence itself before its lease's end (fenced_before_end_ms=$ahead)"
echo "[$LABEL] etcd: two of three killed: C fenced itself $ahead ms before its lease could have expired, and exited $((($T_FENCED - T_Q) / 1000000)) ms after the second kill"
LUA=$(cd "$(dirname "$0")/../.." && pwd)/scripts/wireshark/tokex.lua
HOME=$WORK XDG_CONFIG_HOME=$WORK/config tshark -n -r "$WORK/C.pcap" -X "lua_script:$LUA" \
	-Y "ip.src == ${TIP[C]} && tokex.terminate.reason == 5" -T fields -e tokex.terminate.session_id \
	>"$WORK/C.terms" 2>"$WORK/C.terms.err" || fail "tshark could not decode C's capture: $(cat "$WORK/C.terms.err")"
nterm=$(sort -u "$WORK/C.terms" | grep -c .)
[ "$nterm" = 2 ] || fail "Terminate SHUTDOWN to $nterm session(s), not the client's 2: $(cat "$WORK/C.terms")"
echo "[$LABEL] etcd: both live sessions got Terminate SHUTDOWN before C stopped"
# Nobody promoted: B watched for three leases after C's end.
end=$((SECONDS + 3 * LEASE_S + 1))
while [ "$SECONDS" -lt "$end" ]; do
	promoted B && fail "B was promoted without an etcd quorum"
	sleep 0.2
done
role_is B standby || fail "B is not a standby: $(ctl B replication)"
echo "[$LABEL] etcd: without quorum nobody is promoted: $(ctl B replication | grep '^lease_last:')"
# The quorum back (the two members restarted on their data): B, which followed C to its
# end, takes the free key and is promoted; the firms' sessions carry on at B.
etcd_start "$F1"
etcd_start "$F2"
wait_until "$E2E_WAIT_S" all_healthy || fail "etcd did not become healthy again"
LOG=$(log_of B)
wait_until "$E2E_WAIT_S" promoted B || fail "B was not promoted once etcd had a quorum again: $(ctl B replication)"
[ "$(epoch_of B)" = 5 ] || fail "B's epoch is $(epoch_of B), not 5"
client B verify || fail "crash_client verify against B (epoch 5): $(tail -20 "$WORK/client.log")"
echo "[$LABEL] etcd: the quorum back: B promoted (epoch 5), the firms' streams verified at B"
stop B TERM
sanitizers_quiet
echo "test_tokexd_failover_$MODE: ok (failover $FAILOVER_MS ms, bound $BOUND_MS ms)"
