#!/usr/bin/env bash
# test_tokexd_limits_log.sh - tokexd's start-up log names the limits in force: with
# control.scheduler 1 a contract's first trading day has the first-day band
# (limits.first_day_bp, 16 % by default), without the scheduler the contract's own band_bp
# (8 %). (It printed the 8 % band in both.)
#
# usage: test_tokexd_limits_log.sh TOKEXD
# Only --print-config: no root, no network, no DPDK. Bounded (a hang bound): 300 s a run.
set -u

TOKEXD=${1:?usage: test_tokexd_limits_log.sh TOKEXD}
[ -x "$TOKEXD" ] || { echo "[limits-log] FAIL: no program at $TOKEXD" >&2; exit 1; }
WORK=$(mktemp -d /tmp/tkx-limlog.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

fail() {
	echo "[limits-log] FAIL: $*" >&2
	exit 1
}

# $1: control.scheduler; $2: extra lines.
conf() {
	cat <<EOF
mode: rtc
journal:
  dir: ""
control:
  socket: $WORK/tokexd.sock
  scheduler: $1
firms:
  - {id: 1, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d31}
contracts:
  - {id: 202612, symbol: TKN2612, tick: 10, ref_price: 25000}
EOF
	[ -n "${2:-}" ] && printf '%s\n' "$2"
}

# $1: name, $2: scheduler, $3: the line the log must hold, $4: extra configuration.
check() {
	conf "$2" "${4:-}" >"$WORK/$1.yaml"
	timeout "${TKX_E2E_WAIT_S:-300}" "$TOKEXD" -c "$WORK/$1.yaml" --print-config >"$WORK/$1.out" 2>"$WORK/$1.err" ||
		fail "$1: tokexd --print-config failed: $(tail -n 3 "$WORK/$1.err")"
	grep -qF -- "$3" "$WORK/$1.out" ||
		fail "$1: the log lacks '$3': $(grep 'contract 202612' "$WORK/$1.out")"
	echo "[limits-log] $1: $3"
}

check scheduler 1 "tokexd: contract 202612 TKN2612 core 0 tick 10 limits [21000, 29000] (first trading day: 1600 bp of 25000; then 800 bp, 1200 bp after a limit-locked day)"
check first20 1 "limits [20000, 30000] (first trading day: 2000 bp of 25000; then 800 bp" \
	"limits:
  first_day_bp: 2000"
check demo 0 "tokexd: contract 202612 TKN2612 core 0 tick 10 limits [23000, 27000] (800 bp of 25000, no scheduler)"
echo "[limits-log] PASS"
