#!/usr/bin/env bash
# test_tokexd_ops.sh - what the operator meets, end to end: tokexd's start-up refusals, its
# control socket with tokexctl, and tokex-mm's keepalive against an exchange that stalls.
#
# usage: test_tokexd_ops.sh TOKEXD TOKEXCTL TOKEX_MM
#   start     tokexd refuses to start, with the reason, when control.socket names a regular
#             file (left intact) or a path too long for a socket, when its configuration
#             file names no firms or gives a key twice; it warns about the demo firms when
#             run without a file, and not with one.
#   socket    a second tokexd on the first one's control.socket refuses to start (the
#             first still answers tokexctl); tokexctl kill for a firm the configuration
#             does not have is refused naming it; a known one works.
#   keepalive tokex-mm with its default keepalive rides out a 4 s stall of tokexd (SIGSTOP)
#             and ends "result: PASS"; with --keepalive 300 a stall loses the session and
#             its last line says so ("result: FAIL: session lost: ...").
#   stop      SIGTERM: exit 0, the control socket removed, no sanitizer report.
# TAP tkxo<net>_<pid>, subnets 198.18.60-64.0/24 (a lock per subnet), market data
# 239.198.<net>.1. Needs root and /dev/net/tun, else exit 77. Bounded: each tokexd that
# must refuse 60 s, the start 15 s, each client 60 s; tokexd's own --seconds 150.
set -u

TOKEXD=${1:?usage: test_tokexd_ops.sh TOKEXD TOKEXCTL TOKEX_MM}
CTL=${2:?usage: test_tokexd_ops.sh TOKEXD TOKEXCTL TOKEX_MM}
MM=${3:?usage: test_tokexd_ops.sh TOKEXD TOKEXCTL TOKEX_MM}

WORK=
TD_PID=
IFACE=
LOG=
LABEL=ops
. "$(cd "$(dirname "$0")" && pwd)/e2e_lib.sh"
e2e_require
for b in "$TOKEXD" "$CTL" "$MM"; do [ -x "$b" ] || fail "no program at $b"; done

cleanup() {
	if [ -n "$TD_PID" ] && kill -0 "$TD_PID" 2>/dev/null; then
		kill -CONT "$TD_PID" 2>/dev/null
		kill -TERM "$TD_PID" 2>/dev/null
		wait_until "$E2E_WAIT_S" td_gone
		kill -KILL "$TD_PID" 2>/dev/null
		wait "$TD_PID" 2>/dev/null
	fi
	[ -n "$IFACE" ] && ip link del "$IFACE" 2>/dev/null
	[ -n "$TD_PID" ] && rm -rf "/var/run/dpdk/tokexd-$TD_PID"
	[ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

e2e_lock_net "60 61 62 63 64"
IFACE=tkxo${NET}_$$
IFACE=${IFACE:0:15}
WORK=$(mktemp -d /tmp/tkx-ops.XXXXXX)
SOCK=$WORK/tokexd.sock

# A configuration: this run's market data, its control socket, firms 1 and 2 (the demo
# secrets, as hex, so that tokex-mm's defaults sign for them), one contract; $1 extra lines.
conf() {
	cat <<EOF
mode: rtc
md:
  group: 239.198.$NET.1
  port: $((17400 + NET))
journal:
  dir: ""
control:
  socket: $SOCK
firms:
  - {id: 1, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d31}
  - {id: 2, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d32}
contracts:
  - {id: 1, symbol: TKNOPS, tick: 10, ref_price: 25000}
EOF
	[ $# -gt 0 ] && printf '%s\n' "$1"
}

# A tokexd that must refuse to start: $1 the expected exit status, $2 a text its stderr must
# hold, the rest its arguments. It must stop before EAL, so no TAP of ours is made.
refused() {
	local want=$1 text=$2
	shift 2
	timeout -k 5 "$E2E_WAIT_S" "$TOKEXD" "$@" --vdev "net_tap0,iface=${IFACE}r" --no-tcp --seconds 5 \
		>"$WORK/refused.out" 2>"$WORK/refused.err"
	local rc=$?
	ip link del "${IFACE}r" 2>/dev/null
	[ "$rc" = "$want" ] || fail "tokexd $*: exit status $rc, expected $want; stderr: $(tail -n 3 "$WORK/refused.err")"
	grep -qF -- "$text" "$WORK/refused.err" ||
		fail "tokexd $*: stderr lacks '$text': $(tail -n 3 "$WORK/refused.err")"
	echo "[ops] refused as expected: $text"
}

# --- start ----------------------------------------------------------------------------
# control.socket naming a regular file: refused, the file left as it was.
printf 'keep me\n' >"$WORK/notes.txt"
conf "" | sed "s|socket: $SOCK|socket: $WORK/notes.txt|" >"$WORK/file.yaml"
refused 1 "exists and is a regular file, not a socket: refusing to replace it" -c "$WORK/file.yaml"
[ "$(cat "$WORK/notes.txt" 2>/dev/null)" = "keep me" ] || fail "the regular file at control.socket was changed"
# A path too long for a Unix socket.
long=$WORK/
while [ ${#long} -lt 110 ]; do long=${long}x; done
long=$long.sock # 115 characters: a valid value of the key, too long for a socket
conf "" | sed "s|socket: $SOCK|socket: $long|" >"$WORK/long.yaml"
refused 1 "is longer than 107 characters; not starting without the operator's socket" -c "$WORK/long.yaml"
# A file with no firms keeps no demo firms: refused.
conf "" | sed '/^firms:/,/id: 2/d' >"$WORK/nofirms.yaml"
grep -q "firms" "$WORK/nofirms.yaml" && fail "could not make a file without firms"
refused 2 "firms: missing: a configuration file names its firms" -c "$WORK/nofirms.yaml"
# A key given twice: refused with its line.
conf "journal:
  durability: none" >"$WORK/dup.yaml"
first=$(grep -n '^journal:' "$WORK/dup.yaml" | head -n 1 | cut -d: -f1)
line=$(grep -n '^journal:' "$WORK/dup.yaml" | tail -n 1 | cut -d: -f1)
refused 2 "$WORK/dup.yaml:$line: journal: given twice (first on line $first)" -c "$WORK/dup.yaml"
# No file: the demo firms, loudly (a warning: on standard output); a file: no such warning.
timeout "$E2E_WAIT_S" "$TOKEXD" --print-config >"$WORK/demo.out" 2>"$WORK/demo.err" || fail "tokexd --print-config failed"
grep -q "WARNING: no configuration file: the built-in demo firms 1 and 2" "$WORK/demo.out" ||
	fail "no warning about the demo firms without a configuration file"
conf "" >"$WORK/tokexd.yaml"
timeout "$E2E_WAIT_S" "$TOKEXD" -c "$WORK/tokexd.yaml" --print-config >"$WORK/cfg.out" 2>"$WORK/cfg.err" ||
	fail "tokexd -c --print-config failed: $(cat "$WORK/cfg.err")"
grep -q "WARNING" "$WORK/cfg.out" "$WORK/cfg.err" && fail "a warning about demo firms with a configuration file"
echo "[ops] start: refusals and the demo-firms warning as expected"

# --- socket ---------------------------------------------------------------------------
LOG=$WORK/tokexd.log
"$TOKEXD" -c "$WORK/tokexd.yaml" --vdev "net_tap0,iface=$IFACE" --ip "198.18.$NET.2" --no-tcp \
	--seconds 3600 -- --log-level='*:warning' >"$LOG" 2>"$LOG.err" &
TD_PID=$!
wait_until "$E2E_WAIT_S" td_started
td_gone && fail "tokexd exited during start-up"
grep -q '^tokexd: ready' "$LOG" || fail "tokexd not ready in $E2E_WAIT_S s"
ip addr add "$KIP/24" dev "$IFACE" || fail "cannot address $IFACE"
ip link set "$IFACE" up || fail "cannot bring $IFACE up"
[ -S "$SOCK" ] || fail "no control socket at $SOCK"
# A second tokexd on the same control socket.
refused 1 "another tokexd is listening there; not starting without the operator's socket" \
	-c "$WORK/tokexd.yaml"
[ -S "$SOCK" ] || fail "the second tokexd removed the first one's socket"
ctl() { timeout "$E2E_WAIT_S" "$CTL" -s "$SOCK" "$@" >"$WORK/ctl.out" 2>"$WORK/ctl.err"; }
ctl counters || fail "tokexctl counters: $(cat "$WORK/ctl.err")"
ctl kill 99 7 on && fail "tokexctl kill 99 7 on succeeded for a firm that does not exist"
grep -q "tokexctl: kill: no firm 99 (the configuration's firms: 1 2)" "$WORK/ctl.err" ||
	fail "tokexctl kill 99: $(cat "$WORK/ctl.err")"
ctl account 99 7 50 100 && fail "tokexctl account 99 succeeded for a firm that does not exist"
ctl kill 1 7 on || fail "tokexctl kill 1 7 on: $(cat "$WORK/ctl.err")"
grep -q "kill switch 1/7 on" "$WORK/ctl.out" || fail "tokexctl kill 1 7 on: $(cat "$WORK/ctl.out")"
ctl kill 1 7 off || fail "tokexctl kill 1 7 off: $(cat "$WORK/ctl.err")"
echo "[ops] socket: a second tokexd refused, unknown firms refused, tokexctl works"

# --- keepalive ------------------------------------------------------------------------
# tokex-mm in the background; $1 its log, the rest its options.
mm() {
	local out=$1
	shift
	timeout -k 5 60 "$MM" --udp "198.18.$NET.2:7411" --firm 1 --contract 1 --interval 400 \
		--quiet "$@" >"$out" 2>&1 &
	MM_PID=$!
}
# --quiet prints no events: the session is up once tokexd logs one more than $1 (est()
# before the start) established.
est() { grep -c 'udp session: session ESTABLISHED' "$LOG"; }
mm_up() {
	mm_est_or_gone() { [ "$(est)" -gt "$1" ] || ! kill -0 "$MM_PID" 2>/dev/null; }
	wait_until "$E2E_WAIT_S" mm_est_or_gone "$1" && [ "$(est)" -gt "$1" ]
}
# The default keepalive rides out a 4 s stall of the exchange (the old 1000 ms default
# gave up after 3 s). The stall is the stimulus, not a wait: tokexd is stopped for it.
base=$(est)
mm "$WORK/mm1.log" --seconds 12
mm_up "$base" || fail "tokex-mm did not establish: $(tail -n 3 "$WORK/mm1.log")"
kill -STOP "$TD_PID"
sleep 4
kill -CONT "$TD_PID"
wait "$MM_PID"
mrc=$?
[ "$mrc" = 0 ] || fail "tokex-mm (default keepalive) lost the session over a 4 s stall: exit $mrc: $(tail -n 3 "$WORK/mm1.log")"
tail -n 1 "$WORK/mm1.log" | grep -q '^tokex-mm: result: PASS: ' ||
	fail "tokex-mm's last line is not its PASS result: $(tail -n 1 "$WORK/mm1.log")"
echo "[ops] keepalive: $(tail -n 1 "$WORK/mm1.log")"
# A short keepalive: the stall loses the session, and the last line says why. tokexd stays
# stopped until tokex-mm has given up (or E2E_WAIT_S, a hang bound).
# Establishing waits 5 s with this keepalive: a loaded machine gets three tries.
for try in 1 2 3; do
	base=$(est)
	mm "$WORK/mm2.log" --seconds 30 --keepalive 300
	mm_up "$base" && break
	wait "$MM_PID"
	grep -q "result: FAIL: cannot establish" "$WORK/mm2.log" ||
		fail "tokex-mm (keepalive 300): $(tail -n 3 "$WORK/mm2.log")"
	[ "$try" = 3 ] && fail "tokex-mm (keepalive 300) did not establish in 3 tries"
	echo "[ops] tokex-mm (keepalive 300) did not establish in 5 s; again"
done
kill -STOP "$TD_PID"
mm_gone() { ! kill -0 "$MM_PID" 2>/dev/null; }
wait_until "$E2E_WAIT_S" mm_gone
kill -CONT "$TD_PID"
wait "$MM_PID"
mrc=$?
[ "$mrc" = 1 ] || fail "tokex-mm --keepalive 300 over a stall: exit $mrc, expected 1: $(tail -n 3 "$WORK/mm2.log")"
want="tokex-mm: result: FAIL: session lost: nothing from the exchange for 3 keepalive intervals (300 ms)"
[ "$(tail -n 1 "$WORK/mm2.log")" = "$want" ] ||
	fail "tokex-mm's last line: '$(tail -n 1 "$WORK/mm2.log")', expected '$want'"
echo "[ops] keepalive: $want"

# --- stop -----------------------------------------------------------------------------
kill -TERM "$TD_PID"
wait_until "$E2E_WAIT_S" td_gone
kill -0 "$TD_PID" 2>/dev/null && fail "tokexd ignored SIGTERM for $E2E_WAIT_S s"
wait "$TD_PID"
trc=$?
[ "$trc" = 0 ] || fail "tokexd exit status $trc"
grep -q '^tokexd: stopped' "$LOG" || fail "tokexd did not stop in order"
[ -e "$SOCK" ] && fail "tokexd left its control socket behind"
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$LOG" "$LOG.err" "$WORK"/refused.err; then
	fail "sanitizer report from tokexd"
fi
rm -rf "/var/run/dpdk/tokexd-$TD_PID"
TD_PID=
echo "PASS [ops]"
