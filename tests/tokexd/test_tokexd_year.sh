#!/usr/bin/env bash
# test_tokexd_year.sh - a simulated year through the real tokexd (issue 13's "Done when"):
# tokexd with a journal and the scheduler runs 2027 on a simulated calendar that the test
# steers (tokexctl clock hold, clock to: the calendar moves forward to each moment and is
# held there, the scheduler going through every slot change on the way before the
# answer, so nothing races the test on a loaded machine). Twelve months 202701-202712 are
# listed at the start; every business day, at 08:56 (pre-open), 09:00 (continuous), after
# the day's trading and at 15:01 (closed and settled), `tokexctl contracts` must equal,
# row for row, what an independent model of the rules in this script expects:
#   - phases; the reference (the previous settlement); today's limits from it and the
#     band rule (16 % on a month's first trading day, 12 % the day after a limit-locked
#     close, else 8 %; rounded inwards to the tick); the locked-up/down note; the spot
#     month (the nearest month whose last trading day is not over); final prices;
#   - the daily settlement = the day's VWAP rounded half away from zero to the tick (the
#     two firms of year_trader trade each live month at the day's planned price: 2.5000
#     to 4.0000 over the year (+60 %), with a jump up and a drop that the limits turn
#     into runs of limit-locked days - a resting order at the limit, nothing on the
#     other side at the close - and the spot month a second trade one tick higher);
#   - each month expires at the close of its last trading day (the last business day of
#     its month; holidays move it), is final-settled from the business-day fixings of
#     the index file (weekend and holiday rows hold wild prices and must be skipped) and
#     delisted, and the roll lists the month after the strip's last, referenced on the
#     furthest month's settlement of that day, first-day band;
#   - holidays (a spring-festival week, a national-day week, single days, one on the last
#     weekday of April and of December): the calendar is taken to noon of each and
#     nothing trades;
#   - the missing-fixing wait: June's last fixing is not in the index file: 202606
#     stays EXPIRED, waiting (logged), the roll goes on; three business days later the
#     file gets it and 202606 is final-settled and delisted without a restart.
# tokexd is killed -9 at pseudo-random steps (YEAR_SEED, printed; set it to replay a
# run) and restarted without --clock: `tokexctl contracts` and `tokexctl clock` must
# show exactly what they showed before the kill, and the year goes on.
#
# usage: test_tokexd_year.sh rtc|pipeline TOKEXD TOKEXCTL YEAR_TRADER
# Environment: YEAR_SEED (default: from the clock), YEAR_KILLS (kill -9 points, default
# 8), YEAR_DAYS (stop after this many business days; default the whole year).
# TAP tkxy<net>_<pid>, subnets 198.18.125-129.0/24 (rtc 125/126, pipeline 127/128, 129
# either; a lock per subnet), market data 239.198.<net>.1, the TCP gateway on 127.0.0.1.
# Needs root and /dev/net/tun, else exit 77. Every wait follows an event with a hang
# bound (E2E_WAIT_S, e2e_lib.sh).
set -u

USAGE="usage: test_tokexd_year.sh rtc|pipeline TOKEXD TOKEXCTL YEAR_TRADER"
MODE=${1:?$USAGE}
TOKEXD=${2:?$USAGE}
CTL=${3:?$USAGE}
TRADER=${4:?$USAGE}
SEED=${YEAR_SEED:-$(($(date +%s%N) % 1000000))}
KILLS=${YEAR_KILLS:-8}
DAYS_MAX=${YEAR_DAYS:-0}

WORK=
TD_PID=
IFACE=
LOG=
TRADER_PID=
LABEL="year $MODE seed $SEED"
. "$(cd "$(dirname "$0")" && pwd)/e2e_lib.sh"
e2e_require
for b in "$TOKEXD" "$CTL" "$TRADER"; do [ -x "$b" ] || fail "no program at $b"; done
case $MODE in
rtc) NETS="125 126 129" ;;
pipeline) NETS="127 128 129" ;;
*) echo "$USAGE" >&2; exit 2 ;;
esac
say() { echo "[year $MODE] $*"; }
say "seed $SEED (YEAR_SEED=$SEED replays this run's kill points)"
RANDOM=$SEED

cleanup() {
	[ -n "${Q_PID:-}" ] && kill "$Q_PID" 2>/dev/null
	if [ -n "$TRADER_PID" ]; then
		kill "$TRADER_PID" 2>/dev/null
		wait "$TRADER_PID" 2>/dev/null
	fi
	td_stop KILL
	[ -n "$IFACE" ] && ip link del "$IFACE" 2>/dev/null
	[ -n "$WORK" ] && [ -z "${TKX_KEEP:-}" ] && rm -rf "$WORK" # TKX_KEEP=1: keep it
}
trap cleanup EXIT
trap 'exit 1' INT TERM
trap '' PIPE # a write to a tokexctl that is gone fails with the reason, not silently

e2e_lock_net "$NETS"
IFACE=tkxy${NET}_$$
IFACE=${IFACE:0:15}
WORK=$(mktemp -d "/tmp/tkx-year-$MODE.XXXXXX")
SOCK=$WORK/tokexd.sock
TCPPORT=$((27400 + NET))
for _ in 1 2 3 4 5; do
	port_busy "$TCPPORT" || break
	TCPPORT=$((30000 + RANDOM % 30000))
done
port_busy "$TCPPORT" && fail "no free TCP port on 127.0.0.1"

# --- the calendar: day numbers (days since 1970-01-01), dates, business days ------------
HOLIDAYS="2027-01-01 2027-02-08 2027-02-09 2027-02-10 2027-02-11 2027-02-12 2027-04-05
2027-04-30 2027-05-03 2027-05-04 2027-05-05 2027-06-09 2027-09-15 2027-10-01 2027-10-04
2027-10-05 2027-10-06 2027-10-07 2027-12-31 2028-01-03 2028-06-30"
declare -A HOL=() DAYOF=()
for h in $HOLIDAYS; do HOL[$h]=1; done
D0=$(($(date -u -d 2027-01-01 +%s) / 86400))
D1=$(($(date -u -d 2029-01-01 +%s) / 86400))
declare -a DSTR=() BIZ=()
declare -A LTD=() # month YYYYMM -> its last business day
for ((d = D0; d < D1; d++)); do
	# civil from days (Howard Hinnant's), as cp_cal.c, in shell arithmetic
	z=$((d + 719468))
	era=$((z / 146097))
	doe=$((z - era * 146097))
	yoe=$(((doe - doe / 1460 + doe / 36524 - doe / 146096) / 365))
	doy=$((doe - (365 * yoe + yoe / 4 - yoe / 100)))
	mp=$(((5 * doy + 2) / 153))
	dd=$((doy - (153 * mp + 2) / 5 + 1))
	mm=$((mp < 10 ? mp + 3 : mp - 9))
	yy=$((yoe + era * 400 + (mm <= 2 ? 1 : 0)))
	printf -v s '%04d-%02d-%02d' "$yy" "$mm" "$dd"
	DSTR[d]=$s
	DAYOF[$s]=$d
	wd=$(((d + 3) % 7)) # 0 Monday
	if [ "$wd" -lt 5 ] && [ -z "${HOL[$s]:-}" ]; then
		BIZ[d]=1
		LTD[$((yy * 100 + mm))]=$d
	else
		BIZ[d]=0
	fi
done
[ "${DSTR[D0]}" = 2027-01-01 ] || fail "the calendar arithmetic: day $D0 is ${DSTR[D0]}"
YEAR_END=${DAYOF[2027-12-31]}
NBIZ=0
for ((d = D0; d <= YEAR_END; d++)); do NBIZ=$((NBIZ + BIZ[d])); done

# The planned price of business day i (0-based): 2.5000 rising slowly, a jump to 4.0000
# on day 40 (a run of limit-up days), 4.0000 to 4.2000, a drop to 3.0000 on day 120 (a
# run of limit-down days), then up to 4.0000 on the year's last day: +60 %.
path() {
	local i=$1 p
	if [ "$i" -lt 40 ]; then
		p=$((25000 + i * 2000 / 40))
	elif [ "$i" -lt 120 ]; then
		p=$((40000 + (i - 40) * 2000 / 80))
	else
		p=$((30000 + (i - 120) * 10000 / (NBIZ - 1 - 120)))
	fi
	echo $((p / 10 * 10))
}

# --- the index file: a fixing every calendar day of 2027; weekend and holiday rows wild -
MISSING=${LTD[202706]} # the missing fixing: June's last
declare -A FIXSUM=() FIXN=()
write_index() { # $1: 1 with the missing fixing
	local d s m p
	for ((d = D0; d <= YEAR_END; d++)); do
		s=${DSTR[d]}
		m=${s:0:4}${s:5:2}
		if [ "${BIZ[d]}" = 1 ]; then
			p=$((24000 + (d * 7919) % 3000 / 10 * 10))
			[ "$d" = "$MISSING" ] && [ "$1" != 1 ] && continue
		else
			p=99990 # would move any mean it were counted in
		fi
		printf '%s,%d.%04d\n' "$s" $((p / 10000)) $((p % 10000))
	done >"$WORK/index.tmp"
	mv "$WORK/index.tmp" "$WORK/index.csv"
}
write_index 0
# The model's final settlements: mean of the month's business-day fixings, rounded half
# away from zero to the tick (cp_settle.h rules 1 and 5).
for ((d = D0; d <= YEAR_END; d++)); do
	[ "${BIZ[d]}" = 1 ] || continue
	s=${DSTR[d]}
	m=${s:0:4}${s:5:2}
	FIXSUM[$m]=$((${FIXSUM[$m]:-0} + 24000 + (d * 7919) % 3000 / 10 * 10))
	FIXN[$m]=$((${FIXN[$m]:-0} + 1))
done
round_tick() { # num den tick -> num/den rounded half away from zero to the tick
	local dd=$(($2 * $3))
	echo $(((2 * $1 + dd) / (2 * dd) * $3))
}

# --- the configuration ------------------------------------------------------------------
CORES="mode: rtc"
EAL=()
if [ "$MODE" = pipeline ]; then
	CORES="mode: pipeline
cores:
  rx: 0
  match: [1]"
	EAL=(--lcores 0@0,1@1)
fi
HOLS=$(for h in $HOLIDAYS; do printf '"%s", ' "$h"; done)
{
	cat <<EOF
# test_tokexd_year_$MODE (generated)
$CORES
md:
  group: 239.198.$NET.1
  port: $((17400 + NET))
journal:
  dir: $WORK/journal
  stall_ms: 600000 # a loaded test machine stalls fdatasync; halting is for a dead disk
  durability: async
  snapshot_every: 20000
control:
  socket: $SOCK
  scheduler: 1
limits:
  vol_guard_bp: 0
trading:
  sessions: ["09:00-15:00"]
  holidays: [${HOLS%, }]
settlement:
  index_file: $WORK/index.csv
tcp:
  negotiate_deadline_ms: 30000
firms:
  - {id: 1, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d31}
  - {id: 2, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d32}
contracts:
EOF
	for m in 01 02 03 04 05 06 07 08 09 10 11 12; do
		echo "  - {id: 2027$m, symbol: TKN27$m, tick: 10, ref_price: 25000, max_qty: 10000, max_orders: 4096}"
	done
} >"$WORK/tokexd.yaml"

ctl() { timeout -k 5 "$E2E_WAIT_S" "$CTL" -s "$SOCK" "$@"; }
# One tokexctl for the run of each tokexd, commands through a pipe (a process per command
# costs more than the command on a loaded machine): q CMD... runs one, its output (stderr
# too) in Q; 0, or 1 when tokexctl said it failed. 'help tick' (answered by tokexctl itself,
# after the command's answer) marks the end of each answer.
Q_PID=
MARK="    Runs the scheduler now (it runs by itself every 50 ms in tokexd)."
q_start() {
	rm -f "$WORK/q.in" "$WORK/q.out"
	mkfifo "$WORK/q.in" "$WORK/q.out" || fail "mkfifo"
	"$CTL" -s "$SOCK" <"$WORK/q.in" >"$WORK/q.out" 2>&1 &
	Q_PID=$!
	exec {QI}>"$WORK/q.in" {QO}<"$WORK/q.out"
}
q_stop() {
	[ -n "$Q_PID" ] || return 0
	exec {QI}>&- {QO}<&-
	wait "$Q_PID" 2>/dev/null
	Q_PID=
}
q() {
	local line
	Q=
	printf '%s\nhelp tick\n' "$*" >&"$QI" || fail "tokexctl (the pipe) is gone at '$*'"
	while :; do
		IFS= read -r -t "$E2E_WAIT_S" line <&"$QO" || fail "tokexctl: no answer to '$*' in $E2E_WAIT_S s: $Q"
		[ "$line" = tick ] && continue
		[ "$line" = "$MARK" ] && break
		Q+=$line$'\n'
	done
	Q=${Q%$'\n'}
	[[ $Q != *"tokexctl: "* ]]
}

RUN=0
# Starts tokexd (extra arguments: --clock ...); fails unless its control thread answers.
start_tokexd() {
	RUN=$((RUN + 1))
	LOG=$WORK/tokexd.$RUN.log
	"$TOKEXD" -c "$WORK/tokexd.yaml" --vdev "net_tap0,iface=$IFACE" --ip "$TIP" \
		--tcp "127.0.0.1:$TCPPORT" --seconds 3600 "$@" -- "${EAL[@]}" \
		--log-level='*:warning' >"$LOG" 2>"$LOG.err" &
	TD_PID=$!
	wait_until "$E2E_WAIT_S" td_started
	td_gone && fail "run $RUN: tokexd exited at its start: $(tail -n 3 "$LOG.err")"
	grep -q '^tokexd: ready' "$LOG" || fail "run $RUN: tokexd not ready in $E2E_WAIT_S s"
	ctl_up() { [ -S "$SOCK" ] && ctl clock >/dev/null 2>&1; }
	wait_until "$E2E_WAIT_S" ctl_up || fail "run $RUN: no tokexctl answer in $E2E_WAIT_S s"
	q_start
}

# --- the model -----------------------------------------------------------------------------
declare -A PH=() REF=() LO=() HI=() BP=() FIRST=() LOCK=() FINAL=() SETTLE=()
MONTHS=() # every month the model knows, in listing order
limits() { # ref bp -> "lo hi" (cp_settle.h rule 3, tick 10)
	local d=$(($1 * $2 / 10000)) l h
	l=$(($1 - d))
	h=$(($1 + d))
	[ "$l" -lt 10 ] && l=10
	l=$(((l + 9) / 10 * 10))
	h=$((h / 10 * 10))
	echo "$l $h"
}
set_limits() { # month bp: the month's limits around its reference
	local r
	r=$(limits "${REF[$1]}" "$2")
	LO[$1]=${r% *}
	HI[$1]=${r#* }
	BP[$1]=$2
}
model_list() { # month ref
	MONTHS+=("$1")
	PH[$1]=LISTED
	REF[$1]=$2
	FIRST[$1]=1
	LOCK[$1]=0
	set_limits "$1" 1600
}
price() { printf '%d.%04d' $(($1 / 10000)) $(($1 % 10000)); }
live() { case ${PH[$1]} in LISTED | PRE_OPEN | CONTINUOUS | SETTLED) return 0 ;; esac; return 1; }
# The spot month: the live month with the earliest last trading day not over (AFTER_CLOSE
# 1: today's close is past).
spot_month() {
	local m best=
	for m in "${MONTHS[@]}"; do
		live "$m" || continue
		[ "${LTD[$m]}" -lt "$TODAY" ] && continue
		[ "${LTD[$m]}" = "$TODAY" ] && [ "$AFTER_CLOSE" = 1 ] && continue
		[ -z "$best" ] || [ "${LTD[$m]}" -lt "${LTD[$best]}" ] && best=$m
	done
	echo "$best"
}
# The rows `tokexctl contracts` must show for the months not delisted, sorted; DELISTED
# months are checked on their own (a delisted slot is reused by a later listing).
expect_rows() {
	local m spot line
	spot=$(spot_month)
	for m in "${MONTHS[@]}"; do
		[ "${PH[$m]}" = DELISTED ] && continue
		printf -v line '%-8u %-8s %-13s %4u %8s %8s %8s %5u %10s' "$m" "TKN${m:2:4}" \
			"${PH[$m]}" 0 "$(price "${REF[$m]}")" "$(price "${LO[$m]}")" \
			"$(price "${HI[$m]}")" "${BP[$m]}" "${DSTR[${LTD[$m]}]}"
		[ "${LOCK[$m]}" = 1 ] && line+=" locked-up"
		[ "${LOCK[$m]}" = 2 ] && line+=" locked-down"
		[ "$m" = "$spot" ] && line+=" spot"
		echo "$line"
	done | sort
}

STEP=0
LAST_OUT=
# check WHAT: `tokexctl contracts` against the model.
check() {
	local out got want m row
	q contracts || fail "$1: tokexctl contracts: $Q"
	out=$Q
	LAST_OUT=$out
	got=$(awk 'NR > 1 && $3 != "DELISTED"' <<<"$out" | sort)
	want=$(expect_rows)
	if [ "$got" != "$want" ]; then
		diff <(echo "$want") <(echo "$got") | sed 's/^/    /'
		fail "$1 (step $STEP): tokexctl contracts differs from the model (< model, > tokexd)"
	fi
	for m in "${MONTHS[@]}"; do
		[ "${PH[$m]}" = DELISTED ] || continue
		row=$(awk -v id="$m" '$1 == id' <<<"$out")
		[ -z "$row" ] && continue # its slot went to a later month
		[[ $row == *" DELISTED "*" final:$(price "${FINAL[$m]}")"* ]] ||
			fail "$1 (step $STEP): $m: '$row', expected DELISTED with final:$(price "${FINAL[$m]}")"
	done
	for m in $(awk 'NR > 1 && $3 == "DELISTED" {print $1}' <<<"$out"); do
		[ "${PH[$m]:-}" = DELISTED ] ||
			fail "$1 (step $STEP): $m DELISTED, which the model has not delisted: $out"
	done
	return 0
}

# clock to DATE HH:MM (Beijing): the calendar there, held; the scheduler's answer.
clock_to() {
	local out
	q clock to "$1T$2:00+08:00" || fail "tokexctl clock to $1T$2: $Q"
	out=$Q
	[[ $out == "calendar $1T$2:00+08:00 rate "*" simulated held"* ]] ||
		fail "tokexctl clock to $1T$2: '$out'"
	grep -q "^scheduler:" <<<"$out" && fail "clock to $1T$2: the scheduler failed: $out"
	return 0
}

# --- kill -9 points: steps of the year, seeded -------------------------------------------
NDAYS=$NBIZ
[ "$DAYS_MAX" -gt 0 ] && [ "$DAYS_MAX" -lt "$NDAYS" ] && NDAYS=$DAYS_MAX
NSTEPS=$((NDAYS * 4))
declare -A KILL_AT=()
for ((k = 0; k < KILLS; k++)); do
	KILL_AT[$(((RANDOM * 32768 + RANDOM) % NSTEPS + 1))]=1
done
say "$NBIZ business days in 2027; running $NDAYS; kill -9 at steps: $(printf '%s\n' "${!KILL_AT[@]}" | sort -n | tr '\n' ' ')"

NKILLED=0
maybe_kill() {
	[ -n "${KILL_AT[$STEP]:-}" ] || return 0
	local before clk after clk2
	before=$(ctl contracts) || fail "step $STEP: tokexctl contracts"
	clk=$(ctl clock) || fail "step $STEP: tokexctl clock"
	kill -KILL "$TD_PID"
	td_stop KILL
	q_stop
	start_tokexd
	grep -q "^tokexd: control: calendar .*continuing where the journal's calendar stopped (held" "$LOG" ||
		fail "step $STEP: the restart does not continue the journal's held calendar: $(grep '^tokexd: control: calendar' "$LOG")"
	after=$(ctl contracts) || fail "step $STEP: tokexctl contracts after the restart"
	clk2=$(ctl clock) || fail "step $STEP: tokexctl clock after the restart"
	if [ "$before" != "$after" ]; then
		diff <(echo "$before") <(echo "$after") | sed 's/^/    /'
		fail "step $STEP ($1): after kill -9 and a restart, tokexctl contracts differs from before"
	fi
	[ "$clk" = "$clk2" ] || fail "step $STEP: the calendar was '$clk' before the kill, '$clk2' after"
	NKILLED=$((NKILLED + 1))
	say "step $STEP ($1): killed -9 and restarted: contracts and the calendar identical ($clk)"
}

trader() { # one command to year_trader; its answer must be ok
	local reply
	echo "$*" >&"${TR[1]}" || fail "year_trader is gone: $(tail -n 3 "$WORK/trader.err")"
	read -r -t "$E2E_CLIENT_S" reply <&"${TR[0]}" ||
		fail "year_trader: no answer to '$*' in $E2E_CLIENT_S s: $(tail -n 3 "$WORK/trader.err")"
	[[ $reply == "ok "* ]] || fail "year_trader: $reply"
}

# --- the year --------------------------------------------------------------------------------
T_START=$SECONDS
start_tokexd --clock 2027-01-01T12:00:00+08:00 --clock-rate 1
out=$(ctl clock hold) || fail "tokexctl clock hold: $out"
[[ $out == "calendar 2027-01-01T12:"*"+08:00 rate 1 simulated held" ]] || fail "clock hold: '$out'"
out=$(ctl clock to 2027-01-01T12:00:00+08:00 2>&1) && fail "the calendar ran backwards: $out"
grep -q "does not run backwards" <<<"$out" || fail "clock to backwards: no reason: $out"
# (Without the tokexctl pipe's ends: a pipe whose writer lives on never ends.)
coproc TR { exec {QI}>&- {QO}<&- "$TRADER" --tcp "127.0.0.1:$TCPPORT" 2>"$WORK/trader.err"; }
TRADER_PID=$TR_PID
for m in 01 02 03 04 05 06 07 08 09 10 11 12; do model_list "2027$m" 25000; done
TODAY=$D0
AFTER_CLOSE=0
check "the start"
say "started: $(ctl clock)"

i=0
WAITING= # the month waiting for its fixing
WAIT_UNTIL=-1
for ((d = D0; d <= YEAR_END && i < NDAYS; d++)); do
	TODAY=$d
	AFTER_CLOSE=0
	s=${DSTR[d]}
	if [ "${BIZ[d]}" = 0 ]; then
		[ -n "${HOL[$s]:-}" ] && [ "$d" != "$D0" ] || continue
		# A holiday on a weekday: nothing opens.
		clock_to "$s" 10:00
		check "holiday $s 10:00"
		continue
	fi
	P=$(path "$i")
	# 08:56: pre-open with today's limits.
	STEP=$((STEP + 1))
	for m in "${MONTHS[@]}"; do
		live "$m" || continue
		if [ "${FIRST[$m]}" = 1 ]; then bp=1600; elif [ "${LOCK[$m]}" != 0 ]; then bp=1200; else bp=800; fi
		set_limits "$m" "$bp"
		PH[$m]=PRE_OPEN
	done
	clock_to "$s" 08:56
	check "$s 08:56"
	maybe_kill "$s 08:56"
	# 09:00: continuous.
	STEP=$((STEP + 1))
	for m in "${MONTHS[@]}"; do [ "${PH[$m]}" = PRE_OPEN ] && PH[$m]=CONTINUOUS; done
	clock_to "$s" 09:00
	check "$s 09:00"
	maybe_kill "$s 09:00"
	# The day's trading: each live month at the planned price, clipped to its limits;
	# clipped, it closes locked at the limit.
	STEP=$((STEP + 1))
	spot=$(spot_month)
	RESTING=0
	declare -A TODAYLOCK=()
	for m in "${MONTHS[@]}"; do
		[ "${PH[$m]}" = CONTINUOUS ] || continue
		q=$((3 + (i + 10#${m:4:2}) % 5))
		lk=0
		if [ "$P" -gt "${HI[$m]}" ]; then
			p=${HI[$m]}
			lk=1
		elif [ "$P" -lt "${LO[$m]}" ]; then
			p=${LO[$m]}
			lk=2
		else
			p=$P
		fi
		trader trade "$m" "$p" "$q"
		if [ "$m" = "$spot" ] && [ "$lk" = 0 ] && [ $((p + 10)) -le "${HI[$m]}" ]; then
			q2=$((1 + i % 4))
			trader trade "$m" $((p + 10)) "$q2"
			SETTLE[$m]=$(round_tick $((p * q + (p + 10) * q2)) $((q + q2)) 10)
		else
			SETTLE[$m]=$p
		fi
		[ "$lk" = 1 ] && trader rest "$m" buy "$p" 1
		[ "$lk" = 2 ] && trader rest "$m" sell "$p" 1
		[ "$lk" != 0 ] && [ "${LTD[$m]}" != "$d" ] && RESTING=$((RESTING + 1))
		TODAYLOCK[$m]=$lk
	done
	check "$s after the trading"
	maybe_kill "$s after the trading"
	# 15:01: closed and settled; the last trading day's month expires, is final-settled
	# (or waits for its fixing), delisted; the roll lists the next month.
	STEP=$((STEP + 1))
	AFTER_CLOSE=1
	for m in "${MONTHS[@]}"; do
		[ "${PH[$m]}" = CONTINUOUS ] || continue
		REF[$m]=${SETTLE[$m]}
		LOCK[$m]=${TODAYLOCK[$m]}
		FIRST[$m]=0
		if [ "${LOCK[$m]}" != 0 ]; then set_limits "$m" 1200; else set_limits "$m" 800; fi
		PH[$m]=SETTLED
	done
	rolled=
	for m in "${MONTHS[@]}"; do
		[ "${PH[$m]}" = SETTLED ] && [ "${LTD[$m]}" = "$d" ] || continue
		PH[$m]=EXPIRED
		if [ "$d" = "$MISSING" ]; then
			WAITING=$m
		else
			FINAL[$m]=$(round_tick "${FIXSUM[$m]}" "${FIXN[$m]}" 10)
			PH[$m]=DELISTED
		fi
		rolled=1
	done
	if [ -n "$rolled" ]; then
		last=
		for m in "${MONTHS[@]}"; do
			[ "${PH[$m]}" != DELISTED ] && { [ -z "$last" ] || [ "$m" -gt "$last" ]; } && last=$m
		done
		y=${last:0:4}
		mo=$((10#${last:4:2} + 1))
		[ "$mo" = 13 ] && { y=$((y + 1)); mo=1; }
		printf -v new '%04d%02d' "$y" "$mo"
		model_list "$new" "${REF[$last]}"
	fi
	clock_to "$s" 15:01
	check "$s 15:01"
	if [ "$RESTING" -gt 0 ]; then
		q cancel 0 0 || fail "tokexctl cancel 0 0: $Q"
		[[ $Q == *": $RESTING order(s) cancelled"* ]] ||
			fail "$s: the resting orders at the limits: '$Q', expected $RESTING"
	fi
	if [ -n "$rolled" ]; then
		say "$s: $(awk 'NR > 1 && ($3 == "EXPIRED" || $3 == "DELISTED" || $NF == "spot" || $3 == "LISTED")' <<<"$LAST_OUT" | tr -s ' ' | tr '\n' ';')"
	fi
	maybe_kill "$s 15:01"
	# The missing-fixing wait: June's month waits (logged); three business days later the
	# index file gets the fixing and the month is final-settled and delisted.
	if [ "$d" = "$MISSING" ]; then
		grep -q "contract $WAITING: no index fixing for business day ${DSTR[MISSING]}" "$WORK"/tokexd.*.log ||
			fail "$WAITING waits for its fixing without saying so"
		WAIT_UNTIL=$((i + 3))
		say "$s: $WAITING expired, waiting for the fixing of ${DSTR[MISSING]}"
	fi
	if [ "$i" = "$WAIT_UNTIL" ]; then
		write_index 1
		FINAL[$WAITING]=$(round_tick "${FIXSUM[$WAITING]}" "${FIXN[$WAITING]}" 10)
		PH[$WAITING]=DELISTED
		final_done() { ctl contracts | awk -v id="$WAITING" '$1 == id' | grep -q " DELISTED .* final:"; }
		wait_until "$E2E_WAIT_S" final_done ||
			fail "$WAITING not final-settled in $E2E_WAIT_S s after its fixing came: $(ctl contracts)"
		check "$s, the fixing in the index file"
		say "$s: the fixing came: $WAITING final-settled at $(price "${FINAL[$WAITING]}") and delisted"
	fi
	unset TODAYLOCK
	i=$((i + 1))
	if [ $((i % 25)) = 0 ]; then
		say "$s: $i business days, $NKILLED restart(s), $((SECONDS - T_START)) s; planned price $(price "$P")"
	fi
done

# --- the end: a clean stop and a start continue the held calendar ---------------------------
[ "$i" = "$NDAYS" ] || fail "the year stopped after $i of $NDAYS business days"
before=$(ctl contracts)
clk=$(ctl clock)
q_stop
td_stop TERM
[ "$TD_RC" = 0 ] || fail "tokexd stopped with status $TD_RC"
start_tokexd
after=$(ctl contracts)
[ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after"); fail "contracts differ after the clean stop"; }
[ "$(ctl clock)" = "$clk" ] || fail "the calendar after the clean stop: $(ctl clock), before: $clk"
echo quit >&"${TR[1]}"
wait "$TRADER_PID" 2>/dev/null
TRADER_PID=
q_stop
td_stop TERM
[ "$TD_RC" = 0 ] || fail "tokexd stopped with status $TD_RC"
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$WORK"/tokexd.*.log*; then
	fail "sanitizer report from tokexd"
fi
echo "$after"
say "$i business days (seed $SEED), $NKILLED kill -9 and restart(s), $((SECONDS - T_START)) s"
echo "PASS [year $MODE]"
