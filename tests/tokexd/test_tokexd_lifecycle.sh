#!/usr/bin/env bash
# test_tokexd_lifecycle.sh - the contract lifecycle an operator drives with tokexctl, end to
# end through the real tokexd, its matching core(s) and its market-data publisher:
#   1. tokexctl help (and -h) answer without a tokexd;
#   2. the start-up log names the limits in force; 'spot' names the spot month;
#   3. list refuses a month that is not the one after the strip's last, lists that one,
#      and the month listed at run time is in the market-data Snapshots (the publisher's
#      list follows the ContractStatus records: it was fixed at start);
#   4. delist needs 'confirm'; confirmed, the month's DELISTED status goes out and no
#      Snapshot of it follows; a month that never traded is listed again;
#   5. show: the day's volume and VWAP, the indicative auction, from the core; limits
#      outside the book's price range are refused with the range named; cancel says how
#      many orders it cancelled; a clean stop.
#
# usage: test_tokexd_lifecycle.sh rtc|pipeline TOKEXD TOKEXCTL E2E_CLIENT
# TAP tkxl<net>_<pid>, subnets 198.18.105-108.0/24 (rtc 105/106, pipeline 107/108, a lock
# per subnet), market data 239.198.<net>.1. Needs root and /dev/net/tun, else exit 77.
# Every wait is bounded (hang bounds, e2e_lib.sh): the start, each tokexctl and each
# market-data wait E2E_WAIT_S, the watcher E2E_CLIENT_S, tokexd's own --seconds 3600.
set -u

MODE=${1:?usage: test_tokexd_lifecycle.sh rtc|pipeline TOKEXD TOKEXCTL E2E_CLIENT}
TOKEXD=${2:?usage: test_tokexd_lifecycle.sh MODE TOKEXD TOKEXCTL E2E_CLIENT}
CTL=${3:?usage: test_tokexd_lifecycle.sh MODE TOKEXD TOKEXCTL E2E_CLIENT}
EC=${4:?usage: test_tokexd_lifecycle.sh MODE TOKEXD TOKEXCTL E2E_CLIENT}

WORK=
TD_PID=
MD_PID=
IFACE=
LOG=

LABEL="lifecycle $MODE"
. "$(cd "$(dirname "$0")" && pwd)/e2e_lib.sh"
e2e_require
for b in "$TOKEXD" "$CTL" "$EC"; do [ -x "$b" ] || fail "no program at $b"; done

case $MODE in
rtc) NETS="105 106" ;;
pipeline) NETS="107 108" ;;
*) echo "usage: test_tokexd_lifecycle.sh rtc|pipeline TOKEXD TOKEXCTL E2E_CLIENT" >&2; exit 2 ;;
esac

say() { echo "[lifecycle $MODE] $*"; }

cleanup() {
	if [ -n "$MD_PID" ]; then
		kill "$MD_PID" 2>/dev/null
		wait "$MD_PID" 2>/dev/null
	fi
	e2e_cleanup
}
e2e_traps cleanup
e2e_setup "life-$MODE" tkxl "$NETS"
SOCK=$WORK/ctl.sock
# Months far ahead, so that the calendar never finds them over; no scheduler (the
# operator drives them); Snapshots every 200 ms.
e2e_config "$WORK/tokexd.yaml" "$MODE" "$SOCK" "journal:
  dir: \"\"
contracts:
  - {id: 209911, symbol: TKN9911, tick: 10, ref_price: 25000}" "  snapshot_ms: 200"

# tokexctl: stdout into $OUT, stderr into $ERR, the exit status returned.
OUT=$WORK/ctl.out
ERR=$WORK/ctl.err
ctl() {
	timeout -k 5 "$E2E_WAIT_S" "$CTL" -s "$SOCK" "$@" >"$OUT" 2>"$ERR"
}
expect_ok() { # $1: a text stdout must hold; the rest: the command
	local want=$1
	shift
	ctl "$@" || fail "tokexctl $*: exit $?: $(cat "$ERR")"
	grep -qF -- "$want" "$OUT" || fail "tokexctl $*: no '$want' in: $(cat "$OUT")"
}
expect_err() { # $1: a text stderr must hold; the rest: the command
	local want=$1 rc
	shift
	ctl "$@"
	rc=$?
	[ "$rc" = 1 ] || fail "tokexctl $*: exit $rc, expected 1: $(cat "$OUT" "$ERR")"
	grep -qF -- "$want" "$ERR" || fail "tokexctl $*: no '$want' in: $(cat "$ERR")"
}

# 1. help without a tokexd.
expect_ok "delist ID confirm" help
grep -qF "Removes a final-settled month" "$OUT" || fail "help does not say what delist does"
expect_ok "Without 'confirm' it only says what would happen" help delist
timeout 30 "$CTL" -h >"$OUT" 2>&1 || fail "tokexctl -h failed"
grep -qF "Commands: help ping contracts show spot" "$OUT" || fail "tokexctl -h lists no commands"
ctl contracts
[ $? = 2 ] || fail "tokexctl contracts without tokexd: not exit 2"
say "help and -h without tokexd"

# 2. Start.
td_start "$WORK/tokexd.yaml" --no-tcp || fail "tokexd exited during start-up"
ctl_up() { [ -S "$SOCK" ] && ctl contracts; }
wait_until "$E2E_WAIT_S" ctl_up
grep -q "^209911 " "$OUT" || fail "no tokexctl answer on $SOCK"
grep -qF "tokexd: contract 209911 TKN9911 core 0 tick 10 limits [23000, 27000] (800 bp of 25000, no scheduler)" "$LOG" ||
	fail "the start-up log does not name the limits in force"
expect_ok "spot month 209911 TKN9911" spot

# The market-data watcher.
MD=$WORK/md.txt
timeout -k 5 "$E2E_CLIENT_S" "$EC" mdwatch --md "239.198.$NET.1:$MDPORT" --iface "$KIP" \
	"$E2E_CLIENT_S" >"$MD" \
	2>"$WORK/md.err" &
MD_PID=$!
# wait_md PATTERN FROM: a line matching PATTERN after line FROM of the watcher's output.
wait_md() {
	md_seen() { tail -n "+$(($2 + 1))" "$MD" | grep -qx -- "$1" || ! kill -0 "$MD_PID" 2>/dev/null; }
	wait_until "$E2E_WAIT_S" md_seen "$1" "$2"
	tail -n "+$(($2 + 1))" "$MD" | grep -qx -- "$1" && return 0
	kill -0 "$MD_PID" 2>/dev/null || fail "the market-data watcher stopped: $(cat "$WORK/md.err")"
	fail "no '$1' on market data in $E2E_WAIT_S s (after line $2): $(tail -n 5 "$MD")"
}
lines() { wc -l <"$MD"; }
wait_md "SNAP 209911 4" 0 # CONTINUOUS
say "started; the spot month and the start-up limits as expected; Snapshots of 209911"

# 3. list: the month after the strip's last, nothing else.
expect_err "list 210005: only the month after the strip's last (209911) may be listed: 209912" list 210005
expect_err "list 199901: only the month after the strip's last (209911) may be listed" list 199901
expect_ok "listed 209912 TKN9912" list
expect_ok "209912   TKN9912  LISTED" contracts
wait_md "SNAP 209912 1" 0
say "list refused 210005 and 199901, listed 209912; its Snapshots go out"

# 4. delist needs confirming; the delisted month leaves the Snapshots; it comes back.
expect_err "delist 209912: the month never traded: it leaves the market and may be listed again later; repeat as 'delist 209912 confirm'" delist 209912
expect_ok "209912   TKN9912  LISTED" contracts
expect_ok "209912 DELISTED" delist 209912 confirm
wait_md "STATUS 209912 11" 0
MARK=$(grep -nx "STATUS 209912 11" "$MD" | tail -n 1 | cut -d: -f1)
# Two Snapshot rounds after the delisting: 209911's, never 209912's.
wait_md "SNAP 209911 4" "$MARK"
M2=$(($(grep -nx "SNAP 209911 4" "$MD" | tail -n 1 | cut -d: -f1)))
wait_md "SNAP 209911 4" "$M2"
tail -n "+$((MARK + 1))" "$MD" | grep -qx "SNAP 209912 .*" && fail "a Snapshot of delisted 209912"
ctl contracts
grep "^209912 " "$OUT" | grep -q "final:" && fail "a final price for a month delisted unsettled: $(grep '^209912 ' "$OUT")"
N=$(lines)
expect_ok "listed 209912 TKN9912" list 209912
wait_md "SNAP 209912 1" "$N"
say "delist needed confirm; 209912 left the Snapshots and came back"

# 5. The views and the answers.
expect_ok "day: volume 0, VWAP -, high -, low -, last -" show 209911
grep -qF "indicative auction: the book does not cross" "$OUT" || fail "show: no indicative auction: $(cat "$OUT")"
expect_err "contract 209911: limits [1.0000, 2.6000] are outside the book's price range [1.2500, 3.7500]" limits 209911 1.0000 2.6000
grep -q "Numerical result" "$ERR" && fail "limits: the errno's text: $(cat "$ERR")"
expect_ok "mass cancel 0/0: 0 order(s) cancelled" cancel 0 0
say "show, limits outside the book's range, cancel: as expected"

td_stop_clean
e2e_no_sanitizer -- "$LOG" "$LOG.err"
say "PASS"
