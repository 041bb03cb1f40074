#!/usr/bin/env bash
# test_tokexd_journal.sh - the input journal end to end (issue 6: "nothing acknowledged is
# ever lost"): tokexd (rtc, journal.durability sync, no TCP gateway but in mode gateway) on
# a net_tap port with its journal in a mktemp directory; crash_client on the kernel side
# of the TAP (and on 127.0.0.1 for the gateway).
#
# usage: test_tokexd_journal.sh crash|replay|storage|corrupt|pcrash|pmulti|preplay|gateway|pgateway|snapshot|relogon|lock|nospace|snapfail TOKEXD CRASH_CLIENT
#   crash    3 rounds: start tokexd on the journal, crash_client recovers and checks both
#            firms' sessions (retransmission of everything, identical bytes, trade ids
#            once per side, the book by IOC probes), trades, and tokexd is killed -9 at a
#            random point; a last start verifies. tokexd must stop 0 at the end.
#   replay   a random session of 3000 requests, SIGTERM, restart: the retransmitted
#            streams equal the live ones byte for byte and nothing is new (--strict).
#   storage  journal.fault_write_after (testing only): after the failing write every
#            request is answered ExecReject STORAGE, nothing more is acknowledged; tokexd
#            says so once; a restart recovers what was journaled before the failure.
#   corrupt  a record in the middle of the segment flipped: tokexd refuses to start, exit
#            non-zero, with the journal's message naming the segment offset.
#   gateway  crash's 3 rounds with firm 2 (session B) on TCP through tokexd's gateway
#            (127.0.0.1, a free port): its session is rebuilt from the journal in the
#            one session table, re-established with the same session id and every
#            message it had is retransmitted with identical bytes at the same number;
#            throttled requests make the session layer answer by itself (MARK records,
#            numbered again by recovery). Then replay's clean-stop check (--strict) on
#            both streams. With snapshot_every 500: recoveries start from snapshots,
#            which hold the TCP sessions too (at least one must).
#   pmulti   pcrash with two matching cores (contract 202611 on core 0, 202612 on core 1,
#            both lcores on CPU 1 through EAL --lcores: functional only), the rounds
#            alternating between the contracts; both verified at the end.
#   pgateway gateway's test in pipeline mode (the TCP sessions' requests journaled and
#            forwarded by the RX core, their replies drained and journaled there).
#   pcrash, preplay  crash and replay in pipeline mode (RX core 0, matching core 1), with
#            journal.snapshot_every 500 (taken with the matching cores at a quiet point):
#            at least one recovery starts from a snapshot.
#   snapshot journal.snapshot_every 500: a random session of 3000 requests, SIGTERM,
#            restart: recovery loads the newest snapshot and replays only the records
#            after it, and the retransmitted streams equal the live ones (--strict); two
#            rounds killed -9 while trading, each recovered from a snapshot and checked;
#            the newest snapshot corrupted: the one before it is used (--strict); another
#            configuration (sessions.max) or all of them moved aside: the whole journal
#            replays to the same streams (--strict).
#   relogon  the session table (sessions.max 2) full of TCP sessions when tokexd
#            stops: after the restart, which rebuilds them TERMINATED, a new TCP logon
#            gets in at once (the slot that can have no resting orders counts as having
#            lingered), the old session whose order may rest resumes in its slot, and a
#            second new logon finds the table full of live sessions; again after a
#            restart from a snapshot (snapshot_every 100). sessions.per_firm 2: the table
#            is what is full, not a firm's share. Subnets 198.18.70-71.
#   lock     a second tokexd on the same journal (its own TAP) while the first runs: it
#            exits non-zero at once, naming the first (pid, tokexd) and never says ready;
#            the first trades on, stops clean, and the journal opens again after it.
#   nospace  the journal on a 3 MB tmpfs (mounted by the test; exit 77 where mount is not
#            permitted): its 64 MiB segment cannot be allocated, so tokexd exits non-zero
#            saying so and why, and never says ready.
#   snapfail journal.snapshot_every 100 on a tmpfs the test fills after the start (the
#            segment is allocated): the requests still go through, and each snapshot that
#            fails is reported while tokexd runs, not only in the stop counters; once
#            there is room again the next one is written and reported so.
# TAP tkxj<net>_<pid>, subnets 198.18.40-59.0/24, 65-69 and 70-71 (a lock per subnet),
# market data 239.198.<net>.1. Needs root and /dev/net/tun, else exit 77. Every wait is
# bounded (for a hang; e2e_lib.sh): a start or a stop E2E_WAIT_S, each client E2E_CLIENT_S;
# tokexd's own --seconds 3600.
set -u

WHAT=${1:?usage: test_tokexd_journal.sh crash|replay|storage|corrupt|pcrash|pmulti|preplay|gateway|pgateway|snapshot|relogon|lock|nospace|snapfail TOKEXD CRASH_CLIENT}
TOKEXD=${2:?usage: test_tokexd_journal.sh WHAT TOKEXD CRASH_CLIENT}
CC=${3:?usage: test_tokexd_journal.sh WHAT TOKEXD CRASH_CLIENT}

WORK=
TD_PID=
IFACE=
LOG=
PIDS=
P2=
MOUNTED=

LABEL="journal $WHAT"
. "$(cd "$(dirname "$0")" && pwd)/e2e_lib.sh"
e2e_require
[ -x "$TOKEXD" ] || fail "no tokexd at $TOKEXD"
[ -x "$CC" ] || fail "no crash_client at $CC"

case $WHAT in
crash) NETS="40 44" ;;
replay) NETS="41 45" ;;
storage) NETS="42 46" ;;
corrupt) NETS="43 47" ;;
pcrash) NETS="51 53" ;;
pmulti) NETS="58 59" ;;
pgateway) NETS="56 57" ;;
preplay) NETS="52 54" ;;
gateway) NETS="49 50" ;;
snapshot) NETS="48 55" ;;
lock) NETS="65" ;;
nospace) NETS="66 67" ;;
snapfail) NETS="68 69" ;;
relogon) NETS="70 71" ;;
*) echo "usage: test_tokexd_journal.sh crash|replay|storage|corrupt|pcrash|pmulti|preplay|gateway|pgateway|snapshot|relogon|lock|nospace|snapfail TOKEXD CRASH_CLIENT" >&2; exit 2 ;;
esac

# e2e_cleanup's, after the second tokexd (lock) and the tmpfs inside WORK (nospace, snapfail).
cleanup() {
	td_stop KILL
	if [ -n "$P2" ]; then
		kill -KILL "$P2" 2>/dev/null
		wait "$P2" 2>/dev/null
		rm -rf "/var/run/dpdk/tokexd-$P2"
	fi
	[ -n "$MOUNTED" ] && umount "$MOUNTED"
	e2e_cleanup
}
e2e_traps cleanup

e2e_setup "journal-$WHAT" tkxj "$NETS"
JDIR=$WORK/journal
STATE=$WORK/state
mkdir -p "$STATE"
# nospace, snapfail: the journal on a small tmpfs of the test's own (3 MB: no room for the
# 64 MiB segment; 160 MB: room for it and for a snapshot at its bound, ~72 MB with this
# configuration, the rest filled after the start while snapshots must fail).
case $WHAT in nospace | snapfail)
	SMALL=$WORK/small
	mkdir -p "$SMALL"
	size=3m
	[ "$WHAT" = snapfail ] && size=160m
	mount -t tmpfs -o "size=$size" "tkx-$WHAT" "$SMALL" 2>"$WORK/mount.err" ||
		skip "cannot mount a tmpfs: $(cat "$WORK/mount.err")"
	MOUNTED=$SMALL
	JDIR=$SMALL/journal ;;
esac
FAULT=
[ "$WHAT" = storage ] && FAULT="  fault_write_after: 40"
[ "$WHAT" = snapshot ] && FAULT="  snapshot_every: 500"
[ "$WHAT" = snapfail ] && FAULT="  snapshot_every: 100"
# gateway: snapshots too, which then hold the TCP sessions (the one table's section).
case $WHAT in gateway | pgateway) FAULT="  snapshot_every: 500" ;; esac
# relogon: a snapshot once the second phase has made 100 records.
[ "$WHAT" = relogon ] && FAULT="  snapshot_every: 100"
SESSIONS=8
[ "$WHAT" = relogon ] && SESSIONS="2
  per_firm: 2"
# pcrash, preplay: pipeline mode takes snapshots at a quiet point of the matching cores.
case $WHAT in pcrash | pmulti | preplay) FAULT="  snapshot_every: 500" ;; esac
# A recovery that started from a snapshot (pipeline and gateway modes must have one).
from_snapshot() {
	ns=$(cat "$WORK"/tokexd.*.log | grep -c '^tokexd: journal: snapshot seq .* loaded')
	[ "$ns" -ge 1 ] || fail "no recovery started from a snapshot"
	echo "[journal $WHAT] $ns recoveries started from a snapshot"
}
# crash and replay: some requests throttled, so the session layer's own numbered
# ExecRejects (THROTTLED) are journaled and renumbered by recovery too (never terminated).
THROTTLE="  throttle_grace: 100000000"
case $WHAT in crash | replay | pcrash | pmulti | preplay | gateway | pgateway | snapshot) THROTTLE="$THROTTLE
  throttle_rate: 500
  throttle_burst: 10" ;;
esac
# pcrash and preplay: crash and replay in pipeline mode (RX core 0, matching core 1).
MODE="mode: rtc"
case $WHAT in pcrash | preplay | pgateway) MODE="mode: pipeline
cores:
  rx: 0
  match: [1]" ;;
pmulti) MODE="mode: pipeline
cores:
  rx: 0
  match: [1, 2]
contracts:
  - {id: 202611, symbol: TKN2611, tick: 10, ref_price: 25000, band_bp: 800, max_qty: 10000, max_orders: 65536, core: 0}
  - {id: 202612, symbol: TKN2612, tick: 10, ref_price: 25000, band_bp: 800, max_qty: 10000, max_orders: 65536, core: 1}" ;;
esac
# pmulti: two matching lcores on CPU 1 (EAL --lcores; functional only on 2 CPUs).
EAL=()
[ "$WHAT" = pmulti ] && EAL=(--lcores 0@0,1@1,2@1)
CONTRACT=
cat >"$WORK/tokexd.yaml" <<EOF
# test_tokexd_journal_$WHAT (generated)
$MODE
md:
  group: 239.198.$NET.1
  port: $((17400 + NET))
  snapshot_ms: 500
sessions:
  max: $SESSIONS
  retransmit_depth: 16384
$THROTTLE
tcp:
  negotiate_deadline_ms: 30000
journal:
  stall_ms: 600000 # a loaded test machine stalls fdatasync; halting is for a dead disk
  dir: $JDIR
  durability: sync
$FAULT
control:
  socket: $WORK/tokexd.sock
firms:
  - {id: 1, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d31}
  - {id: 2, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d32}
EOF

# gateway: the TCP gateway on 127.0.0.1, a port free now (kept across the restarts).
TCP=(--no-tcp)
CTCP=()
if [ "$WHAT" = gateway ] || [ "$WHAT" = pgateway ] || [ "$WHAT" = relogon ]; then
	e2e_tcp_port
	TCP=(--tcp "127.0.0.1:$TCPPORT")
	CTCP=(--tcp "127.0.0.1:$TCPPORT")
fi

START=0
# Starts tokexd on the journal; 0 when ready (TAP addressed), 1 when it exited.
start_tokexd() {
	td_start "$WORK/tokexd.yaml" "${TCP[@]}" -- "${EAL[@]}" || return 1
	grep '^tokexd: journal' "$LOG" | sed "s/^/[journal $WHAT] start $START: /"
	return 0
}

# Whether the client in the background ($CPID) began trading (or is gone).
client_trading() { [ -f "$WORK/ready" ] || ! kill -0 "$CPID" 2>/dev/null; }
# Whether a snapshot file is in the journal's folder (or the client is gone: it finished).
snap_written() {
	compgen -G "$JDIR/snap-*.snap" >/dev/null || ! kill -0 "$CPID" 2>/dev/null
}

client() {
	timeout -k 5 "$E2E_CLIENT_S" "$CC" "$@" --udp "$TIP:7411" "${CTCP[@]}" --state "$STATE" \
		--contract "${CONTRACT:-$C1}" | tee -a "$WORK/client.log"
	return "${PIPESTATUS[0]}"
}

sanitizers_quiet() { e2e_no_sanitizer -- "$WORK"/tokexd.*.log*; }

# gateway: after a restart, firm 2's TCP session is in the session table again.
tcp_rebuilt() {
	grep -q '^tokexd: journal: session 2119675906 firm 2 slot [0-9]*: ' "$LOG" ||
		fail "start $START: the TCP session 0x7e57b002 was not rebuilt"
}

case $WHAT in
crash | pcrash | pmulti | gateway | pgateway)
	for round in 1 2 3; do
		# pmulti: the rounds alternate between the two cores' contracts.
		[ "$WHAT" = pmulti ] && CONTRACT=$((round % 2 ? 202611 : 202612))
		start_tokexd || fail "tokexd exited during start-up (round $round)"
		rm -f "$WORK/stop" "$WORK/ready"
		client run --orders 4000 --seed "$((RANDOM + round))" --stop "$WORK/stop" \
			--ready "$WORK/ready" &
		CPID=$!
		# A random moment while the client trades: 0.2 to 1.5 s after it began (its
		# recovery and book probes come first).
		wait_until "$E2E_CLIENT_S" client_trading
		[ -f "$WORK/ready" ] || { wait "$CPID"; fail "crash_client did not start trading (round $round)"; }
		[ "$TCP" = --no-tcp ] || [ "$round" = 1 ] || tcp_rebuilt
		sleep "$((2 + RANDOM % 14))e-1"
		# pcrash, pmulti: the recoveries must start from a snapshot (snapshot_every 500),
		# so no kill before the first one is written - counted in records, not a time: a
		# loaded machine's client makes far fewer than 500 in the 0.2 to 1.5 s above.
		case $WHAT in pcrash | pmulti)
			wait_until "$E2E_CLIENT_S" snap_written || fail "no snapshot written in round $round" ;;
		esac
		kill -KILL "$TD_PID"
		touch "$WORK/stop"
		echo "[journal $WHAT] round $round: tokexd killed -9"
		wait "$CPID" || fail "crash_client failed in round $round"
		td_stop KILL
	done
	start_tokexd || fail "tokexd exited during the last start"
	client verify || fail "crash_client verify failed after the last kill"
	if [ "$WHAT" = pmulti ]; then
		CONTRACT=202611 client verify || fail "verify of core 0's contract failed"
		CONTRACT=202612 client verify || fail "verify of core 1's contract failed"
	fi
	td_stop_clean
	grep -q '^tokexd: stopped' "$LOG" || fail "tokexd did not stop in order"
	n=$(grep -c '^tokexd: journal: recovered' "$WORK"/tokexd.*.log | awk -F: '{ s += $2 } END { print s }')
	[ "$n" = 3 ] || fail "expected 3 recoveries (starts 2 to 4), saw $n"
	if [ "$TCP" != --no-tcp ]; then
		tcp_rebuilt
		# B received replies its session layer made by itself, and recovery numbers the
		# journaled ones again. Checked on a recovery
		# of the whole journal (the snapshots set aside for the rest of the test): one
		# from a snapshot replays only the tail after it, which may hold none of them.
		bl=$(awk '$1 == "CRASH" && $2 == "local" { b = $6 } END { print b + 0 }' "$WORK/client.log")
		[ "$bl" -gt 0 ] || fail "session B (tcp) never got a session-layer reply"
		mkdir -p "$WORK/aside"
		mv "$JDIR"/snap-* "$WORK/aside/" 2>/dev/null
		start_tokexd || fail "tokexd exited during the whole journal's replay"
		grep -q '^tokexd: journal: recovered [0-9]* record(s) from seq 1 to' "$LOG" ||
			fail "without snapshots the whole journal was not replayed"
		tcp_rebuilt
		gl=$(sed -n 's/.* replies renumbered (\([0-9]*\) session-layer rejects).*/\1/p' "$LOG")
		[ -n "$gl" ] && [ "$gl" -gt 0 ] || fail "recovery renumbered no session-layer reply"
		echo "[journal $WHAT] B (tcp) got $bl session-layer replies; the whole journal's recovery renumbered $gl"
		td_stop_clean
		# A clean stop: the regenerated streams equal the live ones byte for byte.
		start_tokexd || fail "tokexd exited during the replay start"
		tcp_rebuilt
		client run --orders 1500 --seed 11 || fail "crash_client run failed (replay)"
		td_stop_clean
		start_tokexd || fail "tokexd exited during the replay restart"
		tcp_rebuilt
		client verify --strict || fail "the regenerated stream differs from the live one"
		td_stop_clean
		from_snapshot # which then holds the TCP sessions too
	fi
	[ "$WHAT" != pcrash ] && [ "$WHAT" != pmulti ] || from_snapshot
	sanitizers_quiet
	;;
replay | preplay)
	start_tokexd || fail "tokexd exited during start-up"
	client run --orders 3000 --seed 7 || fail "crash_client run failed"
	td_stop_clean
	start_tokexd || fail "tokexd exited during the restart"
	grep -q '^tokexd: journal: recovered' "$LOG" || fail "no recovery on restart"
	client verify --strict || fail "the regenerated stream differs from the live one"
	td_stop_clean
	[ "$WHAT" != preplay ] || from_snapshot
	sanitizers_quiet
	;;
storage)
	start_tokexd || fail "tokexd exited during start-up"
	grep -q 'TESTING: write 40 of the journal will fail' "$LOG" || fail "fault not armed"
	client storage --orders 80 || fail "crash_client storage failed"
	td_stop_clean
	# An error: on standard error.
	grep -q '^tokexd: journal: FAILED (Input/output error)' "$LOG.err" ||
		fail "tokexd did not report the journal failure"
	[ "$(grep -c '^tokexd: journal: FAILED' "$LOG.err")" = 1 ] || fail "failure reported more than once"
	sr=$(grep '^tokexd: stats: journal:' "$LOG" | awk '{ for (i = 1; i < NF; i++) if ($i == "storage_rejects") print $(i + 1) }')
	cs=$(awk '$1 == "CRASH" && $2 == "storage" { print $6 }' "$WORK/client.log")
	[ -n "$sr" ] && [ "$sr" = "$cs" ] || fail "tokexd counted $sr STORAGE rejects, the client $cs"
	# The same journal without the fault: what was journaled before the failure recovers.
	sed -i '/fault_write_after/d' "$WORK/tokexd.yaml"
	start_tokexd || fail "tokexd did not restart after the storage failure"
	grep -q '^tokexd: journal: recovered' "$LOG" || fail "no recovery after the failure"
	td_stop_clean
	sanitizers_quiet
	;;
corrupt)
	start_tokexd || fail "tokexd exited during start-up"
	client run --orders 60 --seed 3 || fail "crash_client run failed"
	td_stop TERM
	seg=$(ls "$JDIR"/jn-*.log | head -n 1)
	[ -n "$seg" ] || fail "no journal segment in $JDIR"
	# Record 4 (offset 384: 3 records of 128 bytes): one payload byte changed; records 5.. stay valid after it.
	printf '\x5a' | dd of="$seg" bs=1 seek=$((384 + 40)) conv=notrunc status=none
	if start_tokexd; then
		fail "tokexd started on a journal corrupt in the middle"
	fi
	td_stop KILL # it exited: its status
	[ "$TD_RC" != 0 ] || fail "tokexd exited 0 on a corrupt journal"
	grep -h 'corrupt in the middle' "$LOG" "$LOG.err" | head -n 1 | sed 's/^/[journal corrupt] /'
	grep -q "corrupt in the middle: .*$(basename "$seg") offset 384" "$LOG" "$LOG.err" ||
		fail "the message does not name the segment and offset 384"
	sanitizers_quiet
	;;
snapshot)
	# snap_recovered: this start recovered from a snapshot and replayed only its tail.
	snap_recovered() {
		local seq from n to
		seq=$(sed -n 's/^tokexd: journal: snapshot seq \([0-9]*\) (.* loaded in .*/\1/p' "$LOG")
		[ -n "$seq" ] || fail "start $START: recovery did not load a snapshot"
		read -r n from to < <(sed -n 's/^tokexd: journal: recovered \([0-9]*\) record(s) from seq \([0-9]*\) (after the snapshot) to seq \([0-9]*\) .*/\1 \2 \3/p' "$LOG")
		[ -n "$n" ] || fail "start $START: no recovery from seq > 1"
		[ "$from" = $((seq + 1)) ] || fail "start $START: replay from $from, the snapshot is $seq"
		[ "$n" = $((to - seq)) ] || fail "start $START: replayed $n records, $((to - seq)) follow the snapshot"
		[ "$n" -lt "$to" ] || fail "start $START: the whole journal was replayed"
		echo "[journal snapshot] start $START: snapshot seq $seq, $n of $to records replayed"
	}
	snap_files() { ls "$JDIR" | grep -c '^snap-[0-9]*\.snap$'; }
	start_tokexd || fail "tokexd exited during start-up"
	grep -q '^tokexd: journal: a snapshot every 500 records' "$LOG" || fail "snapshots are not on"
	client run --orders 3000 --seed 11 || fail "crash_client run failed"
	td_stop_clean
	w=$(sed -n 's/^tokexd: journal: snapshots taken [0-9]* written \([0-9]*\) .*/\1/p' "$LOG")
	grep '^tokexd: journal: snapshots taken' "$LOG" | sed 's/^/[journal snapshot] /'
	# (a snapshot due while the writer still syncs the previous one is skipped: a fast
	# client can make that happen at 500 records, so at least two, not one per 500)
	[ -n "$w" ] && [ "$w" -ge 2 ] || fail "expected snapshots written, saw '$w'"
	# Retention: the two newest snapshots stay, the older ones were deleted.
	[ "$(snap_files)" = 2 ] || fail "expected 2 snapshot files, found $(snap_files)"
	# A clean stop, then recovery from the newest snapshot: the same streams.
	start_tokexd || fail "tokexd exited during the restart"
	snap_recovered
	client verify --strict || fail "the stream after recovery from a snapshot differs from the live one"
	td_stop_clean
	# Killed -9 while trading, twice: each recovery starts from a snapshot.
	for round in 1 2; do
		start_tokexd || fail "tokexd exited during start-up (round $round)"
		snap_recovered
		rm -f "$WORK/stop" "$WORK/ready"
		client run --orders 3000 --seed "$((RANDOM + round))" --stop "$WORK/stop" \
			--ready "$WORK/ready" &
		CPID=$!
		wait_until "$E2E_CLIENT_S" client_trading
		[ -f "$WORK/ready" ] || { wait "$CPID"; fail "crash_client did not start trading (round $round)"; }
		sleep "$((5 + RANDOM % 10))e-1"
		kill -KILL "$TD_PID"
		touch "$WORK/stop"
		echo "[journal snapshot] round $round: tokexd killed -9"
		wait "$CPID" || fail "crash_client failed in round $round"
		td_stop KILL
	done
	start_tokexd || fail "tokexd exited after the last kill"
	snap_recovered
	client verify || fail "crash_client verify failed after the last kill"
	td_stop_clean
	# The newest snapshot corrupted: the one before it, and a longer tail, give the same.
	newest=$(ls "$JDIR" | grep '^snap-[0-9]*\.snap$' | tail -n 1)
	printf '\x5a\x5a' | dd of="$JDIR/$newest" bs=1 seek=100 conv=notrunc status=none
	start_tokexd || fail "tokexd exited on a corrupt snapshot"
	grep -q "^tokexd: journal: snapshot seq $((10#${newest:5:20})) is corrupt (CRC or length): skipped" "$LOG" ||
		fail "the corrupt snapshot $newest was not reported"
	[ -f "$JDIR/$newest.corrupt" ] || fail "the corrupt snapshot was not set aside"
	snap_recovered
	client verify --strict || fail "the stream after recovery from the older snapshot differs"
	td_stop_clean
	# Another configuration (sessions.max): the snapshots are not used; the journal still
	# starts at seq 1, so it is replayed whole, to the same streams.
	sed -i 's/^  max: 8$/  max: 9/' "$WORK/tokexd.yaml"
	start_tokexd || fail "tokexd exited with another configuration"
	grep -q '^tokexd: journal: snapshot seq [0-9]* not used: taken with another configuration' "$LOG" ||
		fail "a snapshot of another configuration was not refused"
	grep -q '^tokexd: journal: recovered [0-9]* record(s) from seq 1 to' "$LOG" ||
		fail "with another configuration the whole journal was not replayed"
	client verify --strict || fail "the stream after a full replay (other configuration) differs"
	td_stop_clean
	sed -i 's/^  max: 9$/  max: 8/' "$WORK/tokexd.yaml"
	# Every snapshot moved aside: the whole journal replays to the same streams.
	mkdir -p "$WORK/aside"
	mv "$JDIR"/snap-* "$WORK/aside/"
	start_tokexd || fail "tokexd exited without snapshots"
	grep -q '^tokexd: journal: recovered [0-9]* record(s) from seq 1 to' "$LOG" ||
		fail "without snapshots the whole journal was not replayed"
	client verify --strict || fail "the stream after a full replay differs"
	td_stop_clean
	grep -q '^tokexd: stopped' "$LOG" || fail "tokexd did not stop in order"
	sanitizers_quiet
	;;
lock)
	start_tokexd || fail "tokexd exited during start-up"
	FIRST=$TD_PID
	# A second tokexd on the same journal, on a TAP of its own (nothing else collides).
	L2=$WORK/second.log
	IFACE2=tkxk${NET}_$$
	"$TOKEXD" -c "$WORK/tokexd.yaml" --vdev "net_tap0,iface=${IFACE2:0:15}" --ip "$TIP" \
		--no-tcp --seconds 3600 -- --log-level='*:warning' >"$L2" 2>"$L2.err" &
	P2=$!
	second_done() { ! kill -0 "$P2" 2>/dev/null || grep -q '^tokexd: ready' "$L2"; }
	wait_until "$E2E_WAIT_S" second_done
	grep -q '^tokexd: ready' "$L2" && fail "a second tokexd started on the journal tokexd $FIRST has open"
	kill -0 "$P2" 2>/dev/null && fail "the second tokexd still runs after $E2E_WAIT_S s"
	wait "$P2"
	rc2=$?
	P2=
	[ "$rc2" != 0 ] || fail "the second tokexd exited 0"
	sed 's/^/[journal lock] second: /' "$L2.err"
	grep -q "^tokexd: journal: $JDIR is in use by pid $FIRST (tokexd, holding it since " "$L2.err" ||
		fail "the second tokexd did not name the first (pid $FIRST): $(cat "$L2.err")"
	# The first goes on as if nothing happened, and releases the journal when it stops.
	client run --orders 300 --seed 5 || fail "crash_client run failed beside the refused second"
	td_stop_clean
	start_tokexd || fail "tokexd did not start on the journal the first released"
	grep -q '^tokexd: journal: recovered' "$LOG" || fail "no recovery on restart"
	client verify --strict || fail "the stream after the restart differs"
	td_stop_clean
	sanitizers_quiet
	;;
nospace)
	if start_tokexd; then
		fail "tokexd said ready on a journal whose segment does not fit its disk"
	fi
	td_stop KILL # it exited: its status
	[ "$TD_RC" != 0 ] || fail "tokexd exited 0 on a journal it cannot allocate"
	grep -h 'cannot allocate' "$LOG" "$LOG.err" | sed 's/^/[journal nospace] /'
	grep -q "journal: cannot allocate its segment $JDIR/jn-00000000000000000001.log ([0-9]* bytes): No space left on device" \
		"$LOG" "$LOG.err" || fail "the message does not say the segment cannot be allocated, and why"
	sanitizers_quiet
	;;
snapfail)
	start_tokexd || fail "tokexd exited during start-up"
	grep -q '^tokexd: journal: a snapshot every 100 records' "$LOG" || fail "snapshots are not on"
	# The disk fills after the start: the segment is allocated, a snapshot finds no room.
	dd if=/dev/zero of="$SMALL/fill" bs=1M >/dev/null 2>&1
	client run --orders 400 --seed 9 || fail "crash_client run failed on a full disk"
	# Reported by the control thread while tokexd runs, not only at the stop.
	said() { grep -q "$1" "$LOG" || td_gone; }
	wait_until "$E2E_WAIT_S" said '^tokexd: journal: snapshot of seq [0-9]* failed: No space left on device'
	td_gone && fail "tokexd exited"
	grep -q '^tokexd: journal: snapshot of seq [0-9]* failed: No space left on device' "$LOG" ||
		fail "no snapshot failure reported while tokexd runs"
	grep '^tokexd: journal: snapshot of seq' "$LOG" | head -n 1 | sed 's/^/[journal snapfail] /'
	# Room again: the next snapshot is written and said to be.
	rm -f "$SMALL/fill"
	client run --orders 400 --seed 10 || fail "crash_client run failed after the disk was freed"
	wait_until "$E2E_WAIT_S" said '^tokexd: journal: snapshot of seq [0-9]* written: snapshots work again'
	td_gone && fail "tokexd exited"
	grep -q '^tokexd: journal: snapshot of seq [0-9]* written: snapshots work again' "$LOG" ||
		fail "snapshots working again was not reported"
	td_stop_clean
	sanitizers_quiet
	;;
relogon)
	start_tokexd || fail "tokexd exited during start-up"
	client fill || fail "crash_client fill failed"
	td_stop_clean
	# Within the linger time of the restart: recovered sessions keep no new logon out.
	start_tokexd || fail "tokexd exited during the restart"
	grep -q '^tokexd: journal: recovered' "$LOG" || fail "no recovery on restart"
	grep -q '^tokexd: journal: snapshot seq .* loaded' "$LOG" && fail "a snapshot already"
	client relogon --sid 0x7e57c003 --sid2 0x7e57c004 --orders 120 ||
		fail "crash_client relogon failed after a restart (replay)"
	td_stop_clean
	# The sessions come from a snapshot this time.
	start_tokexd || fail "tokexd exited during the second restart"
	grep -q '^tokexd: journal: snapshot seq .* loaded' "$LOG" ||
		fail "the second restart did not start from a snapshot"
	client relogon --sid 0x7e57c005 --sid2 0x7e57c006 ||
		fail "crash_client relogon failed after a restart (snapshot)"
	td_stop_clean
	grep -q '^tokexd: stopped' "$LOG" || fail "tokexd did not stop in order"
	sanitizers_quiet
	;;
esac
echo "PASS [journal $WHAT]"
