#!/usr/bin/env bash
# test_journal_tool: tokex-journal dump/verify/truncate/audit on the small journal jn_gen
# writes (and on its order-types journal), compared with the expected files in expected/ (regenerate them by hand only
# after checking the difference is intended); truncate refused while a writer holds the
# journal, naming it; the control plane's state records decoded by dump and checked by
# verify, a corrupt one and one of another format version refused with the reason.
# usage: test_journal_tool.sh TOKEX_JOURNAL JN_GEN
set -euo pipefail
TJ=$1
GEN=$2
HERE=$(cd "$(dirname "$0")" && pwd)
EXP=$HERE/expected
W=$(mktemp -d /tmp/tkx-jn-tool-XXXXXX)
HOLD=
trap 'if [ -n "$HOLD" ]; then kill "$HOLD" 2>/dev/null; fi; rm -rf "$W"' EXIT
D=$W/j
SEG=jn-00000000000000000001.log

fail() { echo "FAIL: $*" >&2; exit 1; }
same() { # NAME: compare $W/NAME with expected/NAME
  diff -u "$EXP/$1" "$W/$1" || fail "$1 differs from expected/$1"
}

"$GEN" "$D"

"$TJ" dump "$D" > "$W/dump.out"; same dump.out
"$TJ" dump "$D" --type order --account 22 > "$W/dump_account.out"; same dump_account.out
"$TJ" dump "$D" --firm 1 --from 2026-01-02T03:04:05.006Z --to 1767323045012000001 \
  > "$W/dump_time.out"; same dump_time.out
"$TJ" dump "$D" --contract 1 --type ctl > "$W/dump_ctl.out"; same dump_ctl.out
"$TJ" audit "$D" -c "$HERE/audit.yaml" > "$W/audit.csv"; same audit.csv
"$TJ" audit "$D" -c "$HERE/audit.yaml" --account 11 > "$W/audit_account.csv"; same audit_account.csv

# The order types (jn_gen --types): a DAY iceberg, a stop order, a DAY bid, an IOC that
# refills the iceberg and elects the stop, the close that expires the DAY orders. dump shows
# show=/stop=; audit replays them (STOP_ELECTED, CANCELLED reason 10 = DAY_END).
"$GEN" "$W/types" --types
"$TJ" dump "$W/types" > "$W/dump_types.out"; same dump_types.out
"$TJ" audit "$W/types" -c "$HERE/audit.yaml" > "$W/audit_types.csv"; same audit_types.csv

out=$("$TJ" verify "$D") || fail "verify of a clean journal: $out"
[[ $out == "journal: ok: 13 records, seq 1..13, 1 segments, 1 writer runs, epochs 1..1" ]] || fail "verify said: $out"

# Bad arguments are refused with a usage or a reason, exit 2.
set +e
"$TJ" dump "$D" --from yesterday > /dev/null 2>&1; [[ $? == 2 ]] || fail "bad --from accepted"
"$TJ" truncate "$D" --at 100 --segment $SEG > /dev/null 2>&1; [[ $? == 1 ]] || fail "unaligned --at accepted"
"$TJ" truncate "$D" --at 1280000 --segment $SEG > /dev/null 2>&1; [[ $? == 1 ]] || fail "--at past the end accepted"
"$TJ" verify "$W/none" > /dev/null 2>&1; [[ $? == 2 ]] || fail "verify of a missing directory"
set -e

# Torn tail: garbage after the last record. verify reports it (exit 1), dump still works.
cp -r "$D" "$W/torn"
printf 'garbage!' | dd of="$W/torn/$SEG" bs=1 seek=$((13 * 128)) conv=notrunc status=none
set +e
out=$("$TJ" verify "$W/torn"); rc=$?
set -e
[[ $rc == 1 ]] || fail "verify of a torn tail exited $rc"
grep -q "torn tail at $SEG offset 1664" <<< "$out" || fail "verify said: $out"
"$TJ" dump "$W/torn" | cmp -s - "$W/dump.out" || fail "dump of the torn journal differs"

# Middle corruption: one byte of record 3 (offset 256). verify exits 1 naming the offset;
# dump refuses; truncate --at cuts there and the rest verifies.
printf '\xff' | dd of="$D/$SEG" bs=1 seek=$((2 * 128 + 50)) conv=notrunc status=none
set +e
out=$("$TJ" verify "$D"); rc=$?
"$TJ" dump "$D" > /dev/null 2> "$W/dump.err"; drc=$?
set -e
[[ $rc == 1 ]] || fail "verify of a corrupt journal exited $rc"
grep -q "first bad record: segment $SEG offset 256 seq 3" <<< "$out" || fail "verify said: $out"
grep -q "tokex-journal truncate $D --segment $SEG --at 256" <<< "$out" || fail "no remedy: $out"
[[ $drc == 1 ]] || fail "dump of a corrupt journal exited $drc"
grep -q "corrupt in the middle" "$W/dump.err" || fail "dump said: $(cat "$W/dump.err")"
"$TJ" truncate "$D" --at 256 > /dev/null   # the segment verify names is the default
out=$("$TJ" verify "$D") || fail "verify after truncate: $out"
[[ $out == "journal: ok: 2 records, seq 1..2, 1 segments, 1 writer runs, epochs 1..1" ]] || fail "verify said: $out"
"$TJ" dump "$D" | cmp -s - <(head -2 "$W/dump.out") || fail "dump after truncate"

# A writer holds the journal (jn_gen --hold keeps it open): truncate is refused, exit 1,
# naming the holder's pid; verify and dump still read it. Once it is gone, truncate works.
"$GEN" "$W/held" --hold > "$W/hold.out" &
HOLD=$!
for _ in $(seq 1 300); do
  grep -q holding "$W/hold.out" 2>/dev/null && break
  kill -0 "$HOLD" 2>/dev/null || fail "jn_gen --hold exited"
  sleep 0.1
done
grep -q holding "$W/hold.out" || fail "jn_gen --hold did not take the journal in 30 s"
set +e
out=$("$TJ" truncate "$W/held" --at 256 --segment $SEG 2>&1); rc=$?
set -e
[[ $rc == 1 ]] || fail "truncate of a held journal exited $rc: $out"
grep -q "is in use by pid $HOLD (jn_gen, " <<< "$out" || fail "truncate said: $out"
"$TJ" verify "$W/held" > /dev/null || fail "verify of a held journal"
kill "$HOLD"
wait "$HOLD" 2>/dev/null || true # killed: 143
HOLD=
"$TJ" truncate "$W/held" --at 256 --segment $SEG > /dev/null || fail "truncate after the holder left"
# The control plane's state records (jn_gen --cp): dump decodes each part and the item
# it completes (--contract: that contract's whole items); verify reads them as recovery
# does: two changes, the third cut short at the end (not an error: never acknowledged).
"$GEN" "$W/cp" --cp
"$TJ" dump "$W/cp" > "$W/dump_cp.out"; same dump_cp.out
"$TJ" dump "$W/cp" --type cp --contract 202612 > "$W/dump_cp_contract.out"; same dump_cp_contract.out
out=$("$TJ" verify "$W/cp") || fail "verify of a journal with control-plane records: $out"
[[ $out == "journal: ok: 15 records, seq 1..15, 1 segments, 1 writer runs, epochs 1..1
control plane: 15 records, 2 changes, the last at seq 13: 1 contracts, 1 accounts, calendar 2026-12-30T07:50:00Z (simulated clock, rate 3600); a change at the end without its end (never acknowledged: recovery drops it)" ]] ||
  fail "verify said: $out"
# A corrupt item (its records' own CRCs right) and one of another format version: verify
# exits 1 naming the record and what is wrong; dump says so on the record's line.
"$GEN" "$W/cpcrc" --cp crc
set +e
out=$("$TJ" verify "$W/cpcrc"); rc=$?
set -e
[[ $rc == 1 ]] || fail "verify of a corrupt control-plane item exited $rc"
grep -q "^control plane: record seq 12: control-plane contract item, slot 0: CRC 0x[0-9a-f]*, stored 0x[0-9a-f]*: corrupt$" <<< "$out" ||
  fail "verify said: $out"
"$TJ" dump "$W/cpcrc" --type cp | grep -q '^seq=12 .* type=cp error="control-plane contract item, slot 0: CRC' ||
  fail "dump of the corrupt item: $("$TJ" dump "$W/cpcrc" --type cp | grep seq=12)"
"$GEN" "$W/cpver" --cp version
set +e
out=$("$TJ" verify "$W/cpver"); rc=$?
set -e
[[ $rc == 1 ]] || fail "verify of a control-plane record of version 2 exited $rc"
grep -q "^control plane: record seq 8: control-plane record format version 2; this build reads version 1$" <<< "$out" ||
  fail "verify said: $out"

# Journal format 1 (96-byte records, before epochs: magic "TKJR") and a deposed primary's
# record (an epoch lower than the one before it): verify and dump refuse, naming the file,
# the format or both epochs (jn_journal.h rules 10 and 11).
"$GEN" "$W/f1"
printf 'TKJR' | dd of="$W/f1/$SEG" bs=1 seek=0 conv=notrunc status=none
set +e
out=$("$TJ" verify "$W/f1"); rc=$?
"$TJ" dump "$W/f1" > /dev/null 2> "$W/f1.err"; drc=$?
set -e
[[ $rc == 1 && $drc == 1 ]] || fail "a format-1 journal: verify exited $rc, dump $drc"
grep -q "$SEG offset 0: a record of journal format 1 (96-byte records without epochs" <<< "$out" || fail "verify said: $out"
grep -q "a record of journal format 1" "$W/f1.err" || fail "dump said: $(cat "$W/f1.err")"
echo "format 1 refused by verify and dump"

echo "test_journal_tool: ok"
