#!/usr/bin/env bash
# test_tokexd_park.sh - session-table parking end to end: one firm must never hold the
# order-entry session table for the others, sessions that lingered are forgotten even
# with resting orders (the orders are detached: they keep trading and report to no
# session), the operator lists and drops sessions, and a restart keeps all of it.
#
# usage: test_tokexd_park.sh rtc|pipeline TOKEXD PARK_CLIENT TOKEXCTL
# tokexd with a journal (async: fdatasync stalls of a loaded disk are not this test's
# subject), sessions.max 8 (so 4 per demo firm), sessions.linger_ms
# 15000 (longer than the parking takes on a loaded machine), the TCP gateway on
# 127.0.0.1; park_client plays the firms (UDP, TCP for 7001).
#   1. firm 1 parks sessions with a resting GTC buy each (cancel-on-disconnect off, account
#      0): 5001 1 at 24010, 5002 2 at 24000, then 5003.. 1 at 24000: 4 sessions in all
#      (5005 is refused SessionLimit; before limits firm 1 took every slot for good and
#      firm 2 was refused); firm 2 logs on 3 UDP sessions and one TCP session (its 4: the
#      one table of both transports is then full);
#   2. tokexctl sessions lists them (udp and tcp, firm, state, slot, cod, orders);
#   3. after the linger the oldest lingered session (5001) is forgotten, its order
#      detached (log);
#   4. tokexctl drop 5002 forgets that one (its order detached too); dropping it again
#      fails; firm 1 logs on 5005, which gets the slot of 5001 or 5002; the list no
#      longer shows them;
#   5. restart on the journal: the same sessions in the same slots (on no transport now:
#      each may resume on either);
#   6. firm 2 sells 2 into the detached buys: both trade, the matching core counts 2
#      replies for no session, and 5005 has received nothing; firm 1's MassCancel ACCOUNT
#      0 cancels the rest of 5002's detached account-0 buy (1); 5003's and 5004's buys
#      still trade; tokexctl drop of the TCP session; a clean stop.
# TAP tkxk<net>_<pid>, subnets 198.18.95-98.0/24 (a lock per subnet), market data
# 239.198.<net>.1. Needs root and /dev/net/tun, else exit 77. Every wait is bounded
# (e2e_lib.sh: E2E_WAIT_S for a start, a stop, a log line or tokexctl, E2E_CLIENT_S for a
# client run).
set -u

MODE=${1:?usage: test_tokexd_park.sh rtc|pipeline TOKEXD PARK_CLIENT TOKEXCTL}
TOKEXD=${2:?usage: test_tokexd_park.sh MODE TOKEXD PARK_CLIENT TOKEXCTL}
PC=${3:?usage: test_tokexd_park.sh MODE TOKEXD PARK_CLIENT TOKEXCTL}
CTL=${4:?usage: test_tokexd_park.sh MODE TOKEXD PARK_CLIENT TOKEXCTL}

WORK=
TD_PID=
IFACE=
LOG=

LABEL="park $MODE"
. "$(cd "$(dirname "$0")" && pwd)/e2e_lib.sh"
e2e_require
[ -x "$TOKEXD" ] || fail "no tokexd at $TOKEXD"
[ -x "$PC" ] || fail "no park_client at $PC"
[ -x "$CTL" ] || fail "no tokexctl at $CTL"

case $MODE in
rtc) NETS="95 97" ;;
pipeline) NETS="96 98" ;;
*) echo "usage: test_tokexd_park.sh rtc|pipeline TOKEXD PARK_CLIENT TOKEXCTL" >&2; exit 2 ;;
esac

say() { echo "[park $MODE] $*"; }

e2e_traps
e2e_setup "park-$MODE" tkxk "$NETS"
SOCK=$WORK/ctl.sock
e2e_config "$WORK/tokexd.yaml" "$MODE" "$SOCK" "sessions:
  max: 8
  linger_ms: 15000
journal:
  stall_ms: 600000 # a loaded test machine stalls fdatasync; halting is for a dead disk
  dir: $WORK/journal
  durability: async"
e2e_tcp_port

start_tokexd() {
	td_start "$WORK/tokexd.yaml" --tcp "127.0.0.1:$TCPPORT" ||
		fail "tokexd exited during start $START"
	# The control socket is opened by the control thread after the start.
	# tokexctl help answers without tokexd: contracts is what needs it.
	ctl_up() { [ -S "$SOCK" ] && "$CTL" -s "$SOCK" contracts >/dev/null 2>&1; }
	wait_until "$E2E_WAIT_S" ctl_up && return 0
	fail "no tokexctl socket at $SOCK"
}

pc() { # park_client on UDP: its output also into the log
	timeout -k 5 "$E2E_CLIENT_S" "$PC" --udp "$TIP:7411" --contract "$C1" "$@" | tee -a "$WORK/client.log"
	return "${PIPESTATUS[0]}"
}
pc_tcp() {
	timeout -k 5 "$E2E_CLIENT_S" "$PC" --tcp "127.0.0.1:$TCPPORT" --contract "$C1" "$@" |
		tee -a "$WORK/client.log"
	return "${PIPESTATUS[0]}"
}
ctl() { timeout -k 5 "$E2E_WAIT_S" "$CTL" -s "$SOCK" "$@"; }

# tokexctl sessions into $WORK/sessions.<n>; "SESSION FIRM STATE TR SLOT" lines in .key.
LISTS=0
list() {
	LISTS=$((LISTS + 1))
	L=$WORK/sessions.$LISTS
	# A table's owner that did not answer within tokexd's 1 s (a starved CPU): ask again.
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		ctl sessions >"$L" 2>"$L.err" && break
		grep -q 'no answer from the table' "$L.err" || break
		sleep 0.5
	done
	[ -s "$L.err" ] && fail "tokexctl sessions failed: $(cat "$L.err")"
	awk '$4 == "udp" || $4 == "tcp" || $4 == "-" { print $1, $2, $3, $4, $5 }' "$L" |
		sort >"$L.key"
}
listed() { awk -v s="$1" '$1 == s { f = 1 } END { exit !f }' "$L.key"; }
# The slot the session log gave session $1 when it last negotiated.
neg_slot() {
	sed -n "s/.* session NEGOTIATED session_id=$1 firm=[0-9]* slot=\([0-9]*\) .*/\1/p" \
		"$WORK"/tokexd.*.log | tail -n 1
}

start_tokexd

# 1. Firm 1 parks; it gets 4 sessions, no more; firm 2 is not shut out.
out=$(pc park 1 5001 1 24010 1) || fail "park 5001 failed"
[ "$out" = "PARK parked 1" ] || fail "park 5001: $out"
out=$(pc park 1 5002 1 24000 2) || fail "park 5002 failed"
[ "$out" = "PARK parked 1" ] || fail "park 5002: $out"
out=$(pc park 1 5003 6 24000 1) || fail "park 5003.. failed"
echo "$out" | grep -q '^PARK parked 2$' ||
	fail "firm 1 parked more than its 4 sessions (or fewer): $out"
echo "$out" | grep -q '^PARK 5005 refused NegotiationReject: SessionLimit (11)$' ||
	fail "the 5th session of firm 1 was not refused SessionLimit: $out"
for s in 6001 6002 6003; do
	out=$(pc logon 2 "$s") || fail "logon $s failed"
	echo "$out" | grep -q "^LOGON $s ok next 1$" || fail "firm 2 shut out: $out"
done
out=$(pc_tcp logon 2 7001) || fail "tcp logon 7001 failed"
echo "$out" | grep -q '^LOGON 7001 ok next 1$' || fail "tcp logon: $out"
say "firm 1 held 4 sessions with resting orders; firm 2 logged on 3 udp and 1 tcp"

# 2. The operator sees them (5001 may already be forgotten on a slow machine).
list
for s in 5002 5003 5004; do
	grep -q "^$s 1 TERMINATED udp " "$L.key" || fail "sessions does not show $s: $(cat "$L")"
done
grep -q '^6003 2 TERMINATED udp ' "$L.key" || fail "sessions does not show 6003: $(cat "$L")"
grep -q '^7001 2 TERMINATED tcp ' "$L.key" || fail "sessions does not show tcp 7001: $(cat "$L")"
awk '$1 == 5003 { f = 1; ok = $10 == "no" && $11 == "maybe" } END { exit !(f && ok) }' "$L" ||
	fail "5003 should show cod no, orders maybe: $(cat "$L")"
grep -Eq '^[78] session\(s\) of 8 slots \([67] on udp, 1 on tcp, 0 rebuilt at start\)$' "$L" ||
	fail "no summary line: $(cat "$L")"
sed 's/^/[park '"$MODE"'] | /' "$L"

# 3. The table full, firm 1 at its limit: after the linger its oldest (5001) is forgotten
#    first, its order detached.
forgot_5001() { grep -q 'session FORGOTTEN [a-z-]* (orders detached) session_id=5001 ' "$LOG"; }
wait_until "$E2E_WAIT_S" forgot_5001 ||
	fail "5001 was not forgotten in $E2E_WAIT_S s (linger 15 s)"
grep 'session FORGOTTEN' "$LOG" | sed 's/^/[park '"$MODE"'] /'

# 4. The operator drops 5002; firm 1 logs on 5005 in a detached order's slot.
out=$(ctl drop 5002) || fail "tokexctl drop 5002 failed: $out"
echo "$out" | grep -q '^dropped session 5002 (udp, firm 1, slot [0-9]*, TERMINATED since .*forgotten; its resting orders stay in the book' ||
	fail "drop 5002 said: $out"
say "$out"
grep -q 'tokexd: control: operator dropped session 5002 (udp, firm 1' "$LOG" ||
	fail "the drop is not in tokexd's log"
if out=$(ctl drop 5002 2>&1); then
	fail "dropping 5002 twice succeeded: $out"
fi
echo "$out" | grep -q "no session 5002 (see 'sessions')" || fail "drop again: $out"
out=$(pc logon 1 5005) || fail "logon 5005 failed"
echo "$out" | grep -q '^LOGON 5005 ok next 1$' || fail "firm 1 could not log on 5005: $out"
# The control thread logs the session's events after the client has its answer: wait for
# the line.
negotiated() { [ -n "$(neg_slot "$1")" ]; }
wait_until "$E2E_WAIT_S" negotiated 5005 || fail "no NEGOTIATED line for 5005 in tokexd's log"
S5005=$(neg_slot 5005)
[ "$S5005" = "$(neg_slot 5001)" ] || [ "$S5005" = "$(neg_slot 5002)" ] ||
	fail "5005 got slot $S5005, neither 5001's nor 5002's"
list
listed 5001 && fail "5001 still listed: $(cat "$L")"
listed 5002 && fail "5002 still listed: $(cat "$L")"
for s in 5003 5004 5005 6001 7001; do listed "$s" || fail "$s not listed: $(cat "$L")"; done
BEFORE=$L.key
say "5005 logged on in the slot ($S5005) of a forgotten session with a resting order"

# 5. A restart keeps it all.
td_stop_clean
start_tokexd
grep -q '^tokexd: journal: recovered' "$LOG" || fail "no recovery on restart"
list
# Rebuilt TERMINATED, on no transport (the "tr" column says -): compared without it.
cut -d' ' -f1-3,5 "$BEFORE" >"$BEFORE.notr"
cut -d' ' -f1-3,5 "$L.key" >"$L.key.notr"
diff "$BEFORE.notr" "$L.key.notr" >/dev/null ||
	fail "the sessions differ after the restart: before $(cat "$BEFORE") after $(cat "$L.key")"
awk '$4 != "-" { exit 1 }' "$L.key" || fail "a rebuilt session shows a transport: $(cat "$L")"
say "after the restart: the same $(wc -l <"$L.key") sessions in the same slots"

# 6. The detached orders trade for nobody; the firm can still cancel them.
det() { ctl counters | sed -n 's/^core 0: .* detached \([0-9]*\)$/\1/p'; }
d0=$(det)
[ -n "$d0" ] || fail "no detached counter in tokexctl counters"
out=$(pc cross 2 6001 24000 2) || fail "cross failed: $out"
[ "$out" = "CROSS fills 2 qty 2" ] || fail "firm 2's sell did not trade with 5001's and 5002's: $out"
d1=$(det)
[ "$d1" = $((d0 + 2)) ] || fail "the matching core counted $d0 then $d1 replies for no session"
out=$(pc masscancel 1 5005 0) || fail "masscancel failed"
[ "$out" = "MASSCANCEL next 1 count 1" ] ||
	fail "5005 received a forgotten session's fill, or firm 1 could not cancel 5002's detached order: $out"
out=$(pc cross 2 6002 24000 3) || fail "cross 2 failed"
[ "$out" = "CROSS fills 2 qty 2" ] || fail "5003's and 5004's orders did not trade: $out"
out=$(ctl drop 7001) || fail "tokexctl drop 7001 failed: $out"
# (rebuilt by the restart: on no transport until it resumes)
echo "$out" | grep -q '^dropped session 7001 (rebuilt at start, firm 2, ' ||
	fail "drop 7001 said: $out"
list
listed 7001 && fail "7001 still listed after drop: $(cat "$L")"
say "the detached orders traded for no session, firm 1 cancelled one; tcp 7001 dropped"

td_stop_clean
grep -q '^tokexd: stopped' "$LOG" || fail "tokexd did not stop in order"
e2e_no_sanitizer -- "$WORK"/tokexd.*.log*
say "PASS"
exit 0
