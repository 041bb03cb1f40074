#!/bin/sh
# replay_diff.sh TOOL NAME.in NAME.out [ACTUAL]: runs tokex-replay on a scenario and
# compares its output with the hand-checked expectation; a diff on failure.
tool=$1 in=$2 want=$3 got=${4:-${TMPDIR:-/tmp}/replay_diff.$$}
"$tool" <"$in" >"$got" || { echo "FAIL: $tool exited $?"; exit 1; }
diff -u "$want" "$got"
