#!/usr/bin/env bash
# test_tokexd_cpstate.sh - the control plane survives restarts, on a simulated clock: the
# real tokexd with a journal, the scheduler on and --clock at a high rate runs trading
# days (settlements, holidays, the last trading day of 202612, its expiry, final
# settlement from the index file and delisting, the next month listed), the operator
# lists and delists a month, sets limits, an account and a kill switch; tokexd is killed
# -9 at given points of the calendar and restarted without --clock each time: `tokexctl
# contracts` must show exactly what it showed before the kill and the calendar must go on
# from where it was, not from the wall clock nor from --clock. A clean stop journals the
# calendar's time and the next start continues from exactly that time. Bad --clock
# values, a --clock before the journal's calendar and a control-plane record of another
# format version are refused with the reason.
#
# usage: test_tokexd_cpstate.sh rtc|pipeline TOKEXD TOKEXCTL TOKEX_JOURNAL JN_GEN
# Parameters (environment; the defaults are the registered test's), the base of longer
# runs (a simulated year):
#   CPS_RATE   the calendar's rate, times real time (default 7200 in rtc mode, 3600 in
#              pipeline mode, whose control thread shares a CPU with a polling lcore here)
#   CPS_START  --clock of the first start (default 2026-12-28T08:50:00+08:00, a Monday)
#   CPS_HOLIDAYS  trading.holidays (default "2026-12-29 2027-01-01": the quiet stretches
#              the kills and the clean stop fall in last a day and a half and three days)
#   CPS_KILLS  kill -9 points, calendar times (Beijing, YYYY-MM-DDTHH:MM), ascending; each
#              must lie in a quiet stretch of the calendar (nothing is due from about 15:10
#              to the next business day's 08:55) longer than a restart takes at CPS_RATE
#              (default "2026-12-28T20:00 2026-12-31T20:00")
#   CPS_END    the calendar time of the clean stop, after the last kill, quiet too
#              (default 2027-01-01T06:00)
#   CPS_SNAP   journal.snapshot_every (default 100: recoveries start from snapshots, which
#              hold the control plane's state; 0: the whole journal replays)
#   CPS_LIMIT  tokexd's --seconds for each run (default 300)
# The first night (CPS_START's date, 20:00) the operator acts: list, delist, limits,
# account, kill switch. Before a kill the test waits until no contract is in a phase of
# the trading day (the scheduler may run behind the calendar on a loaded machine). TAP tkxc<net>_<pid>, subnets 198.18.110-119.0/24 (a lock per
# subnet), market data 239.198.<net>.1. Needs root and /dev/net/tun, else exit 77. Every
# wait follows an event with a bound: a start 60 s, a calendar time (its real time at
# CPS_RATE) x 4 + 60 s.
set -u

MODE=${1:?usage: test_tokexd_cpstate.sh rtc|pipeline TOKEXD TOKEXCTL TOKEX_JOURNAL JN_GEN}
TOKEXD=${2:?usage: test_tokexd_cpstate.sh MODE TOKEXD TOKEXCTL TOKEX_JOURNAL JN_GEN}
CTL=${3:?usage: test_tokexd_cpstate.sh MODE TOKEXD TOKEXCTL TOKEX_JOURNAL JN_GEN}
TJ=${4:?usage: test_tokexd_cpstate.sh MODE TOKEXD TOKEXCTL TOKEX_JOURNAL JN_GEN}
JN_GEN=${5:?usage: test_tokexd_cpstate.sh MODE TOKEXD TOKEXCTL TOKEX_JOURNAL JN_GEN}
RATE=${CPS_RATE:-}
[ -n "$RATE" ] || { [ "$MODE" = pipeline ] && RATE=3600 || RATE=7200; }
START_AT=${CPS_START:-2026-12-28T08:50:00+08:00}
HOLIDAYS=${CPS_HOLIDAYS-2026-12-29 2027-01-01}
KILLS=${CPS_KILLS:-2026-12-28T20:00 2026-12-31T20:00}
END_AT=${CPS_END:-2027-01-01T06:00}
SNAP=${CPS_SNAP:-100}
LIMIT=${CPS_LIMIT:-300}

WORK=
TD_PID=
IFACE=
LOG=
LABEL="cpstate $MODE"
. "$(cd "$(dirname "$0")" && pwd)/e2e_lib.sh"
e2e_require
for b in "$TOKEXD" "$CTL" "$TJ" "$JN_GEN"; do [ -x "$b" ] || fail "no program at $b"; done
case $MODE in
rtc) NETS="110 111 112 113 114" ;;
pipeline) NETS="115 116 117 118 119" ;;
*) fail "mode $MODE: rtc or pipeline" ;;
esac
say() { echo "[cpstate $MODE] $*"; }

cleanup() {
	td_stop KILL
	[ -n "$IFACE" ] && ip link del "$IFACE" 2>/dev/null
	[ -n "$WORK" ] && [ -z "${TKX_KEEP:-}" ] && rm -rf "$WORK" # TKX_KEEP=1: keep it
}
trap cleanup EXIT
trap 'exit 1' INT TERM

e2e_lock_net "$NETS"
IFACE=tkxc${NET}_$$
IFACE=${IFACE:0:15}
WORK=$(mktemp -d "/tmp/tkx-cpstate-$MODE.XXXXXX")
SOCK=$WORK/tokexd.sock

# The index fixings of December 2026 to February 2027, one a calendar day (weekends and
# holidays included, as an index provider may publish them).
d=$(date -u -d 2026-12-01 +%s)
while [ "$d" -lt "$(date -u -d 2027-03-01 +%s)" ]; do
	printf '%s,2.%04d\n' "$(date -u -d "@$d" +%F)" $((5000 + (d / 86400) % 50))
	d=$((d + 86400))
done >"$WORK/index.csv"

CORES="mode: rtc"
EAL=()
if [ "$MODE" = pipeline ]; then
	CORES="mode: pipeline
cores:
  rx: 0
  match: [1]"
	EAL=(--lcores 0@0,1@1)
fi
SNAPKEY=
[ "$SNAP" != 0 ] && SNAPKEY="  snapshot_every: $SNAP"
HOLS=$(for h in $HOLIDAYS; do printf '"%s", ' "$h"; done)
cat >"$WORK/tokexd.yaml" <<EOF
# test_tokexd_cpstate_$MODE (generated)
$CORES
md:
  group: 239.198.$NET.1
  port: $((17400 + NET))
journal:
  stall_ms: 600000 # a loaded test machine stalls fdatasync; halting is for a dead disk
  dir: $WORK/journal
  durability: sync
$SNAPKEY
control:
  socket: $SOCK
  scheduler: 1
trading:
  holidays: [${HOLS%, }]
settlement:
  index_file: $WORK/index.csv
firms:
  - {id: 1, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d31}
  - {id: 2, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d32}
accounts:
  - {firm: 1, account: 7, max_qty: 100, max_position: 1000, max_position_spot: 500}
contracts:
  - {id: 202612, symbol: TKN2612, tick: 10, ref_price: 25000, max_qty: 10000, max_orders: 4096}
  - {id: 202701, symbol: TKN2701, tick: 10, ref_price: 25000, max_qty: 10000, max_orders: 4096}
  - {id: 202702, symbol: TKN2702, tick: 10, ref_price: 25000, max_qty: 10000, max_orders: 4096}
EOF

# tokexctl, bounded; its stderr in $WORK/ctl.err (ctl_why says why a call failed).
ctl() {
	local rc=0
	timeout "$E2E_WAIT_S" "$CTL" -s "$SOCK" "$@" 2>"$WORK/ctl.err" || rc=$?
	[ "$rc" = 124 ] && echo "no answer in $E2E_WAIT_S s" >>"$WORK/ctl.err"
	[ "$rc" = 0 ] || echo "(tokexctl $1: exit status $rc)" >>"$WORK/ctl.err"
	return "$rc"
}
ctl_why() {
	local alive=running
	[ -n "$TD_PID" ] && kill -0 "$TD_PID" 2>/dev/null || alive="not running (it exited)"
	echo "tokexctl said: $(tr '\n' ' ' <"$WORK/ctl.err"); tokexd (run $RUN, pid $TD_PID) $alive"
}
# Calendar seconds since the epoch, from `tokexctl clock` ("calendar T rate R KIND").
cal_now() {
	local line
	line=$(ctl clock) || return 1
	date -d "$(awk '{print $2}' <<<"$line")" +%s
}
epoch() { date -d "$1" +%s; }

RUN=0
# Starts tokexd (extra arguments: --clock ...); 0 when its control thread answers, 1 when
# it exited (its status in TD_RC).
start_tokexd() {
	RUN=$((RUN + 1))
	LOG=$WORK/tokexd.$RUN.log
	"$TOKEXD" -c "$WORK/tokexd.yaml" --vdev "net_tap0,iface=$IFACE" --ip "$TIP" --no-tcp \
		--seconds "$LIMIT" "$@" -- "${EAL[@]}" --log-level='*:warning' >"$LOG" 2>"$LOG.err" &
	TD_PID=$!
	for _ in $(seq 1 $((E2E_WAIT_S * 10))); do
		grep -q '^tokexd: control: .* contract(s), scheduler' "$LOG" 2>/dev/null && break
		if ! kill -0 "$TD_PID" 2>/dev/null; then
			wait "$TD_PID"
			TD_RC=$?
			rm -rf "/var/run/dpdk/tokexd-$TD_PID"
			TD_PID=
			return 1
		fi
		sleep 0.1
	done
	grep -q '^tokexd: control: .* contract(s), scheduler' "$LOG" ||
		fail "run $RUN: the control plane did not start in $E2E_WAIT_S s"
	return 0
}

# Waits until the calendar reaches $1 (a time date(1) reads; Beijing when no offset).
wait_cal() {
	local want now bound
	want=$(epoch "$1")
	[[ $1 == *[+Z]* ]] || want=$(epoch "$1 +08:00")
	now=$(cal_now) || fail "tokexctl clock: no answer: $(ctl_why)"
	bound=$(((want - now) * 4 / RATE + 60))
	[ "$bound" -lt 60 ] && bound=60
	for _ in $(seq 1 $((bound * 5))); do
		now=$(cal_now) || fail "tokexctl clock: no answer: $(ctl_why)"
		[ "$now" -ge "$want" ] && return 0
		kill -0 "$TD_PID" 2>/dev/null || fail "tokexd exited while the calendar ran to $1"
		sleep 0.2
	done
	fail "the calendar did not reach $1 in ${bound} s (rate $RATE)"
}

sanitizers_quiet() {
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$WORK"/tokexd.*.log*; then
		fail "sanitizer report from tokexd"
	fi
}

# A phase of contract $1 in `contracts` output $2.
phase_of() { awk -v id="$1" '$1 == id {print $3}' <<<"$2"; }
# QUIET: `tokexctl contracts` once no contract is in a phase of the trading day or between
# two (the scheduler has caught up with a night of the calendar); a hang bound.
wait_quiet() {
	for _ in $(seq 1 $((E2E_WAIT_S * 5))); do
		QUIET=$(ctl contracts) || fail "tokexctl contracts: no answer: $(ctl_why)"
		awk 'NR > 1 && $3 != "LISTED" && $3 != "SETTLED" && $3 != "DELISTED" {b = 1}
			END {exit b}' <<<"$QUIET" && return 0
		sleep 0.2
	done
	fail "the contracts did not settle down in $E2E_WAIT_S s: $QUIET"
}

# --- refusals: bad --clock values (before EAL, no TAP made) ------------------------------
bad_clock() { # $1 the text stderr must hold, the rest tokexd's clock options
	local text=$1
	shift
	timeout -k 5 60 "$TOKEXD" -c "$WORK/tokexd.yaml" --vdev "net_tap0,iface=${IFACE}r" \
		--no-tcp --seconds 5 "$@" >"$WORK/bad.out" 2>"$WORK/bad.err"
	local rc=$?
	ip link del "${IFACE}r" 2>/dev/null
	[ "$rc" = 2 ] || fail "tokexd $*: exit status $rc, expected 2: $(tail -n 2 "$WORK/bad.err")"
	grep -qF -- "$text" "$WORK/bad.err" || fail "tokexd $*: stderr lacks '$text': $(cat "$WORK/bad.err")"
	say "refused: tokexd $*: $(head -n 1 "$WORK/bad.err")"
}
bad_clock "no 'T' between the date and the time" --clock "2026-12-29 08:50:00+08:00"
bad_clock "no offset (Z, or +HH:MM" --clock 2026-12-29T08:50:00
bad_clock "no such date" --clock 2026-02-30T08:50:00+08:00
bad_clock "the calendar's rate is more than 0" --clock-rate 0
bad_clock "not a decimal number" --clock-rate fast

# --- first start: the simulated calendar from --clock -----------------------------------
start_tokexd --clock "$START_AT" --clock-rate "$RATE" || fail "tokexd exited at its first start"
grep -q "^tokexd: control: calendar .*: simulated, from --clock" "$LOG" ||
	fail "the first start does not say it runs the simulated calendar from --clock"
line=$(ctl clock) || fail "tokexctl clock failed"
[[ $line == "calendar ${START_AT:0:10}T"*"+08:00 rate $RATE simulated" ]] ||
	fail "tokexctl clock: '$line'"
say "first start: $line"

# --- the first night: the operator's changes --------------------------------------------
wait_cal "${START_AT:0:10}T20:00"
wait_quiet
out=$QUIET
[ "$(phase_of 202612 "$out")" = SETTLED ] || fail "202612 not SETTLED after its first day: $out"
listed=$(ctl list) || fail "tokexctl list: $listed"
NEW=$(awk '$1 == "listed" {print $2}' <<<"$listed")
[ -n "$NEW" ] || fail "tokexctl list said: $listed"
# The month listed and never traded is delisted (with the confirmation where one is asked).
ctl delist "$NEW" >/dev/null 2>&1 || ctl delist "$NEW" confirm >/dev/null ||
	fail "tokexctl delist $NEW refused"
ctl limits 202701 2.4000 2.6000 >/dev/null || fail "tokexctl limits 202701"
ctl account 1 9 20 200 100 >/dev/null || fail "tokexctl account 1 9"
ctl kill 1 9 on >/dev/null || fail "tokexctl kill 1 9 on"
out=$(ctl contracts)
say "first night: listed and delisted $NEW, limits, account and kill switch set"
echo "$out"

# --- kill -9 at each point; the restart shows the same, the calendar goes on -------------
for at in $KILLS; do
	wait_cal "$at"
	wait_quiet
	before=$QUIET
	t1=$(cal_now)
	r1=$(date +%s)
	kill -KILL "$TD_PID"
	td_stop KILL
	start_tokexd || fail "tokexd exited at its restart after the kill at $at: $(tail -n 3 "$LOG.err")"
	after=$(ctl contracts) || fail "tokexctl contracts after the restart: $(ctl_why)"
	t2=$(cal_now)
	r2=$(date +%s)
	if [ "$before" != "$after" ]; then
		diff <(echo "$before") <(echo "$after")
		fail "after the kill at $at, tokexctl contracts differs from before it"
	fi
	grep -q "^tokexd: control: calendar .*: simulated, continuing where the journal's calendar stopped" "$LOG" ||
		fail "the restart after the kill at $at does not continue the journal's calendar"
	# The calendar goes on from where it was: at most 2 s of it lost (the clock is journaled
	# once a second), at most the real time between the two reads (plus 5 s) gained.
	lo=$((t1 - 2 * RATE))
	hi=$((t1 + (r2 - r1 + 5) * RATE))
	[ "$t2" -ge "$lo" ] && [ "$t2" -le "$hi" ] ||
		fail "after the kill at $at the calendar is $(date -d "@$t2"), before it $(date -d "@$t1") (rate $RATE)"
	ctl clock | grep -q " rate $RATE simulated$" || fail "the restart's clock: $(ctl clock)"
	say "killed -9 at $at, restarted: contracts identical; now $(ctl clock)"
done
grep -q '^tokexd: journal: snapshot seq .* loaded' "$WORK"/tokexd.*.log ||
	{ [ "$SNAP" = 0 ] || fail "no recovery started from a snapshot (journal.snapshot_every $SNAP)"; }

# --- to the end: 202612 expired, final-settled from the index file, delisted -------------
wait_cal "$END_AT"
wait_quiet
out=$QUIET
echo "$out"
case $(phase_of 202612 "$out") in
DELISTED | "") ;;
*) fail "202612 not delisted after its last trading day: $out" ;;
esac
grep -q "contract 202612: final settlement" "$WORK"/tokexd.*.log || fail "202612 was not final-settled"

# --- a clean stop journals the calendar's time; the next start continues from it ---------
before=$out
td_stop TERM
[ "$TD_RC" = 0 ] || fail "tokexd stopped with status $TD_RC"
stopped=$(sed -n "s/^tokexd: journal: the control plane's state journaled at the stop (calendar \(.*\))$/\1/p" "$LOG")
[ -n "$stopped" ] || fail "the clean stop did not journal the calendar's time"
start_tokexd || fail "tokexd exited at its start after the clean stop"
grep -q "^tokexd: control: calendar $stopped, rate $RATE: simulated, continuing where" "$LOG" ||
	fail "after the clean stop at $stopped the calendar started at: $(grep '^tokexd: control: calendar' "$LOG")"
after=$(ctl contracts)
[ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after"); fail "contracts differ after the clean stop"; }
say "clean stop at calendar $stopped; the next start continued from it"
td_stop TERM

# --- a --clock before the journal's calendar is refused ---------------------------------
start_tokexd --clock "$START_AT" && fail "tokexd started with --clock $START_AT, before the journal's calendar"
[ "$TD_RC" != 0 ] || fail "tokexd --clock before the journal's calendar: exit status 0"
grep -q "the calendar does not run backwards" "$LOG" "$LOG.err" ||
	fail "no reason given for refusing --clock $START_AT: $(tail -n 3 "$LOG.err")"
say "refused: --clock $START_AT before the journal's calendar"

# --- tokex-journal reads the control plane's records ------------------------------------
v=$("$TJ" verify "$WORK/journal") || fail "tokex-journal verify: $v"
grep -q "^control plane: [0-9]* records, [0-9]* changes, the last at seq" <<<"$v" ||
	fail "tokex-journal verify says nothing of the control plane: $v"
say "$(tail -n 1 <<<"$v")"
"$TJ" dump "$WORK/journal" --type cp --contract 202612 >"$WORK/dump.txt" || fail "tokex-journal dump --type cp"
grep -q "id=202612 .*phase=SETTLED .*settled=${START_AT:0:10}" "$WORK/dump.txt" ||
	fail "the dump lacks 202612's first settlement"
grep -q "id=202612 .*phase=FINAL_SETTLED" "$WORK/dump.txt" || fail "the dump lacks 202612's final settlement"

# --- a control-plane record of another format version: refused, with the reason ---------
cp -r "$WORK/journal" "$WORK/journal2"
rm -f "$WORK/journal2"/snap-* "$WORK/journal2/jn.lock"
"$JN_GEN" "$WORK/journal2" --patch-cp version >"$WORK/patch.out" || fail "jn_gen --patch-cp: $(cat "$WORK/patch.out")"
seq=$(awk '{print $NF}' "$WORK/patch.out")
start_tokexd --journal "$WORK/journal2" && fail "tokexd started on a journal with a control-plane record of version 2"
grep -q "the control plane's record at seq $seq: control-plane record format version 2; this build reads version 1" \
	"$LOG" "$LOG.err" || fail "the refusal does not name the record and versions: $(tail -n 3 "$LOG.err")"
"$TJ" verify "$WORK/journal2" >"$WORK/verify2.out" && fail "tokex-journal verify passed the version 2 record"
grep -q "^control plane: record seq $seq: control-plane record format version 2" "$WORK/verify2.out" ||
	fail "tokex-journal verify: $(cat "$WORK/verify2.out")"
say "refused: a control-plane record of version 2 (seq $seq), by tokexd and tokex-journal verify"

sanitizers_quiet
echo "PASS [cpstate $MODE]"
