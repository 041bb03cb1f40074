#!/usr/bin/env bash
# test_tokexd_types.sh - the order types end to end (protocol version 3): two firms of
# types_client send DAY orders, icebergs and stop orders over tokexd's TCP gateway on a
# simulated calendar the test steers (tokexctl clock hold / clock to, the scheduler on),
# and check every reply and the market data:
#   day 1 (2027-01-04), continuous from 09:00, contract 202701 (first-day limits +-16 %):
#     firm 1: ICE   sell 2.5100 x 30 DAY iceberg showing 10
#             ICE2  sell 2.5500 x 20 GTC iceberg showing 5
#             STOPD sell stop 2.2500, limit 2.2000 x 1 DAY (held)
#     firm 2: STOPA buy stop 2.5100, limit 2.5200 x 2 GTC (held)
#             STOPB buy stop 2.5500, limit 2.5600 x 1 GTC (held)
#             DAYB  buy 2.4000 x 3 DAY;  GTCB buy 2.3900 x 1 GTC
#     TopOfBook 2.4000 x 3 / 2.5100 x 10: an iceberg's visible part, no held stop.
#     TAKE  firm 2 buys IOC 2.5100 x 12: 10 of ICE (20 left), ICE refilled, 2 more (18
#           left); the trades elect STOPA (StopElected to firm 2), which buys 2 of ICE (16
#           left, 6 shown): TopOfBook ask 2.5100 x 6.
#     kill -9, restart on the journal (`tokexctl digest` of the books identical); the
#     sessions resume.
#     TAKE2 firm 2 buys IOC 2.5100 x 8: 6 (the visible part restored: 10 left), a refill,
#           2 (8 left): TopOfBook ask 2.5100 x 8.
#     15:01, the close: Cancelled DAY_END (reason 10) for DAYB (3), ICE (8) and the held
#           STOPD (1); TopOfBook 2.3900 x 1 / 2.5500 x 5.
#     kill -9, restart (recovery through a snapshot when one was taken: said in the log).
#   day 2 (2027-01-05), continuous from 09:00 (limits +-8 % around the settlement 2.5100):
#     nothing of GTCB, ICE2, STOPB was cancelled; a bid 2.4000 x 2 (firm 2) makes a new
#     TopOfBook: 2.4000 x 2 / 2.5500 x 5. Orders far from the market until a snapshot is
#     taken after that, kill -9: the restart loads it (the held STOPB, the iceberg ICE2
#     with its shown part in it) and replays its tail.
#     TAKE3 firm 2 buys IOC 2.5500 x 5: all of ICE2's 5 shown (15 left); the trade elects
#           STOPB (held across three restarts), which buys 1 of ICE2's refill (14 left):
#           TopOfBook ask 2.5500 x 4.
#   a clean stop: exit 0, nothing from the sanitizers.
#
# usage: test_tokexd_types.sh rtc|pipeline TOKEXD TOKEXCTL TYPES_CLIENT
# TAP tkxo<net>_<pid>, subnets 198.18.155-159.0/24 (rtc 155/156, pipeline 157/158, 159
# either; a lock per subnet), market data 239.198.<net>.1, the TCP gateway on
# 127.0.0.1:19600-19649. Needs root and /dev/net/tun, else exit 77. Every wait follows an
# event with a hang bound (E2E_WAIT_S, e2e_lib.sh).
set -u

USAGE="usage: test_tokexd_types.sh rtc|pipeline TOKEXD TOKEXCTL TYPES_CLIENT"
MODE=${1:?$USAGE}
TOKEXD=${2:?$USAGE}
CTL=${3:?$USAGE}
CLIENT=${4:?$USAGE}
WORK=
TD_PID=
IFACE=
LOG=
CL_PID=
LABEL="types $MODE"
. "$(cd "$(dirname "$0")" && pwd)/e2e_lib.sh"
e2e_require
for b in "$TOKEXD" "$CTL" "$CLIENT"; do [ -x "$b" ] || fail "no program at $b"; done
case $MODE in
rtc) NETS="155 156 159" ;;
pipeline) NETS="157 158 159" ;;
*) echo "$USAGE" >&2; exit 2 ;;
esac
say() { echo "[types $MODE] $*"; }

cleanup() {
	if [ -n "$CL_PID" ]; then
		kill "$CL_PID" 2>/dev/null
		wait "$CL_PID" 2>/dev/null
	fi
	e2e_cleanup
}
e2e_traps cleanup

e2e_setup "types-$MODE" tkxo "$NETS"
TCPPORT=$((19600 + (NET - 155) * 10))
for _ in 1 2 3 4 5 6 7 8 9; do
	port_busy "$TCPPORT" || break
	TCPPORT=$((TCPPORT + 1))
done
port_busy "$TCPPORT" && fail "no free TCP port in 19600-19649"
SOCK=$WORK/tokexd.sock
C=202701

CORES="mode: rtc"
EAL=()
if [ "$MODE" = pipeline ]; then
	CORES="mode: pipeline
cores:
  rx: 0
  match: [1]"
	EAL=(--lcores 0@0,1@1)
fi
cat >"$WORK/tokexd.yaml" <<EOF
# test_tokexd_types_$MODE (generated)
$CORES
md:
  group: 239.198.$NET.1
  port: $MDPORT
journal:
  dir: $WORK/journal
  stall_ms: 600000 # a loaded test machine stalls fdatasync; halting is for a dead disk
  durability: async
  snapshot_every: 100
control:
  socket: $SOCK
  scheduler: 1
limits:
  vol_guard_bp: 0
trading:
  sessions: ["09:00-15:00"]
$E2E_TCP_YAML
firms:
  - {id: 1, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d31}
  - {id: 2, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d32}
contracts:
  - {id: 202701, symbol: TKN2701, tick: 10, ref_price: 25000, max_qty: 10000, max_orders: 4096}
  - {id: 202702, symbol: TKN2702, tick: 10, ref_price: 25000, max_qty: 10000, max_orders: 4096}
EOF

ctl() { timeout -k 5 "$E2E_WAIT_S" "$CTL" -s "$SOCK" "$@"; }
ctl_up() { [ -S "$SOCK" ] && ctl clock >/dev/null 2>&1; }

# start [ARG...]: tokexd on the configuration (td_start), its control socket answering.
start() {
	td_start "$WORK/tokexd.yaml" --tcp "127.0.0.1:$TCPPORT" "$@" -- "${EAL[@]}" ||
		fail "tokexd exited at its start: $(tail -n 5 "$LOG.err")"
	wait_until "$E2E_WAIT_S" ctl_up || fail "no tokexctl answer in $E2E_WAIT_S s"
}

# clock_to DATE HH:MM (Beijing): the calendar there, held; the scheduler did not fail.
clock_to() {
	local out
	out=$(ctl clock to "$1T$2:00+08:00" 2>&1) || fail "tokexctl clock to $1T$2: $out"
	[[ $out == "calendar $1T$2:00+08:00 rate "*" simulated held"* ]] ||
		fail "tokexctl clock to $1T$2: '$out'"
	grep -q "^scheduler:" <<<"$out" && fail "clock to $1T$2: the scheduler failed: $out"
	return 0
}

# phase ID: the contract's phase in `tokexctl contracts`.
phase() { ctl contracts | awk -v id="$1" '$1 == id { print $3 }'; }

# books: the books' digest (`tokexctl digest`: every matching core's books, accounts and
# positions, resting and held orders; the sequence it was taken at is left out: a start
# journals records of its own).
books() {
	local out
	out=$(ctl digest) || fail "tokexctl digest: $out"
	sed -n 's/^digest seq=[0-9]* books=\([0-9a-f]*\) .*/\1/p' <<<"$out"
}

# tc CMD...: one command to types_client; its answer must be ok.
tc() {
	local reply
	echo "$*" >&"${TC[1]}" || fail "types_client is gone: $(tail -n 3 "$WORK/client.err")"
	read -r -t "$E2E_CLIENT_S" reply <&"${TC[0]}" ||
		fail "types_client: no answer to '$*' in $E2E_CLIENT_S s: $(tail -n 3 "$WORK/client.err")"
	[[ $reply == "ok"* ]] || fail "types_client: '$*': $reply"
}

# kill9 WHAT: tokexd killed -9 and restarted on its journal; the books' digest and the
# calendar as before.
kill9() {
	local before after clk clk2
	before=$(books)
	clk=$(ctl clock) || fail "tokexctl clock"
	[ -n "$before" ] || fail "$1: no digest before the kill"
	kill -KILL "$TD_PID"
	td_stop KILL
	start
	after=$(books)
	clk2=$(ctl clock) || fail "tokexctl clock after the restart"
	[ "$before" = "$after" ] ||
		fail "$1: kill -9 and a restart: the books' digest was '$before', is '$after'"
	[ "$clk" = "$clk2" ] || fail "$1: the calendar was '$clk', is '$clk2' after the restart"
	grep '^tokexd: journal: recovered' "$LOG" | sed "s/^/[types $MODE] /"
	say "$1: killed -9 and restarted: books digest $after identical"
}

start --clock 2027-01-04T08:00:00+08:00 --clock-rate 1
out=$(ctl clock hold) || fail "tokexctl clock hold: $out"
coproc TC { exec "$CLIENT" --tcp "127.0.0.1:$TCPPORT" --md "239.198.$NET.1:$MDPORT" \
	--iface "$KIP" --md-req "$TIP:7414" --contract $C --session-base $(($$ * 1000 + NET)) \
	2>"$WORK/client.err"; }
CL_PID=$TC_PID

# --- day 1 ----------------------------------------------------------------------------------
clock_to 2027-01-04 09:00
[ "$(phase $C)" = CONTINUOUS ] || fail "$C is not CONTINUOUS at 09:00: $(ctl contracts)"
tc new ICE 1 sell 25100 30 day show=10
tc new ICE2 1 sell 25500 20 gtc show=5
tc new STOPD 1 sell 22000 1 day stop=22500
tc new STOPA 2 buy 25200 2 gtc stop=25100
tc new STOPB 2 buy 25600 1 gtc stop=25500
tc new DAYB 2 buy 24000 3 day
tc new GTCB 2 buy 23900 1 gtc
tc tob 24000 3 25100 10
say "day 1: resting and held; TopOfBook 2.4000 x 3 / 2.5100 x 10 (the iceberg's 10 of 30)"
tc new TAKE 2 buy 25100 12 ioc
tc wait 2 fill TAKE qty=10 leaves=2 price=25100
tc wait 1 fill ICE qty=10 leaves=20
tc wait 2 fill TAKE qty=2 leaves=0
tc wait 1 fill ICE qty=2 leaves=18
tc wait 2 elected STOPA qty=2 price=25200
tc wait 2 fill STOPA qty=2 leaves=0 price=25100
tc wait 1 fill ICE qty=2 leaves=16
tc none 2 elected STOPB
tc none 1 elected STOPD
tc tob 24000 3 25100 6
say "day 1: the sweep refilled the iceberg and elected STOPA; TopOfBook ask 2.5100 x 6"

kill9 "day 1 10:00"
tc new TAKE2 2 buy 25100 8 ioc
tc wait 1 fill ICE qty=6 leaves=10
tc wait 1 fill ICE qty=2 leaves=8
tc wait 2 fill TAKE2 qty=2 leaves=0
tc tob 24000 3 25100 8
say "day 1 after the restart: the iceberg showed 6 of 16, refilled; TopOfBook ask 2.5100 x 8"

clock_to 2027-01-04 15:01
ph=$(phase $C)
[ "$ph" = SETTLED ] || fail "$C is $ph at 15:01, not SETTLED"
tc wait 2 cancelled DAYB reason=10 qty=3
tc wait 1 cancelled ICE reason=10 qty=8
tc wait 1 cancelled STOPD reason=10 qty=1
tc tob 23900 1 25500 5
say "day 1 15:01: DAYB, ICE and the held STOPD expired (DAY_END); TopOfBook 2.3900 x 1 / 2.5500 x 5"
kill9 "day 1 15:01"

# --- day 2 ----------------------------------------------------------------------------------
clock_to 2027-01-05 09:00
[ "$(phase $C)" = CONTINUOUS ] || fail "$C is not CONTINUOUS on day 2: $(ctl contracts)"
tc new BID 2 buy 24000 2 gtc
tc tob 24000 2 25500 5
tc none 2 cancelled GTCB
tc none 1 cancelled ICE2
tc none 2 cancelled STOPB
tc none 2 elected STOPB
say "day 2: GTCB, ICE2 (5 of 20 shown) and the held STOPB survived the close and two restarts"

# A snapshot that holds them: orders far from the market (firm 1 sells at 2.7000) until the
# journal has a snapshot taken after now (journal.snapshot_every 100); then kill -9: the
# restart loads that snapshot and replays only its tail.
s0=$(ctl digest | sed -n 's/^digest seq=\([0-9]*\) .*/\1/p')
[ -n "$s0" ] || fail "no digest sequence"
newest_snap() {
	local f n=0
	for f in "$WORK"/journal/snap-*.snap; do
		[ -e "$f" ] || continue
		f=${f##*/snap-}
		f=$((10#${f%.snap}))
		[ "$f" -gt "$n" ] && n=$f
	done
	echo "$n"
}
snap_after() { [ "$(newest_snap)" -gt "$s0" ]; }
# Twenty at a time, then a moment for the snapshot writer (it skips a snapshot while it is
# still writing the last one, which a loaded disk makes slow): bounded in time.
i=0
end=$((SECONDS + E2E_WAIT_S))
until snap_after; do
	[ "$SECONDS" -lt "$end" ] && [ "$i" -lt 2000 ] ||
		fail "no snapshot after seq $s0 in $i orders and $E2E_WAIT_S s"
	for _ in $(seq 20); do
		i=$((i + 1))
		tc new FILL$i 1 sell 27000 1 gtc
	done
	wait_until 5 snap_after
done
snap=$(newest_snap)
kill9 "day 2, snapshot $snap"
# (Its resting orders: GTCB, ICE2, BID and the fillers it saw; STOPB is held, not resting.)
n=$(sed -n "s/^tokexd: journal: snapshot seq $snap .* loaded .*: 2 contract(s), \([0-9]*\) resting order(s).*/\1/p" "$LOG")
[ -n "$n" ] && [ "$n" -ge 4 ] ||
	fail "the restart did not load snapshot $snap with its resting orders: $(grep '^tokexd: journal: snapshot' "$LOG")"
grep -q '^tokexd: journal: recovered .* (after the snapshot)' "$LOG" ||
	fail "the restart did not recover after the snapshot: $(grep '^tokexd: journal: recovered' "$LOG")"
say "day 2: $i orders to a snapshot (seq $snap) after seq $s0; kill -9: it was loaded, its tail replayed"
tc new TAKE3 2 buy 25500 5 ioc
tc wait 1 fill ICE2 qty=5 leaves=15
tc wait 2 elected STOPB qty=1 price=25600
tc wait 2 fill STOPB qty=1 leaves=0 price=25500
tc wait 1 fill ICE2 qty=1 leaves=14
tc tob 24000 2 25500 4
say "day 2: STOPB elected by the trade at 2.5500, bought the iceberg's refill; ask 2.5500 x 4"

echo quit >&"${TC[1]}"
wait "$CL_PID" 2>/dev/null
CL_PID=
td_stop_clean "the end"
e2e_no_sanitizer -- "$WORK"/tokexd.*.log "$WORK"/tokexd.*.log.err
echo "PASS [$LABEL]"
