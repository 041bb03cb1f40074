#!/usr/bin/env bash
# hw_lint.sh RTL_DIR - verilator --lint-only -Wall over the RTL: hw_book at N = 1, 2, 4,
# 8, the synthesis wrapper and hw_match (three sizes). Prints "N passed, N failed"; 77 without verilator.
# HW_LINT_EXTRA (environment) adds flags, e.g. -DHW_BUG_NOFWD to lint a planted bug.
set -u
rtl=$1
command -v verilator >/dev/null || { echo "hw_lint: skipped: verilator not on PATH"; exit 77; }
src=("$rtl/hw_lt.v" "$rtl/hw_side.v" "$rtl/hw_book.v")
pass=0 fail=0
run() {
  if out=$(verilator --lint-only -Wall ${HW_LINT_EXTRA:-} "$@" 2>&1); then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "hw_lint: FAILED: verilator --lint-only -Wall $*"
    echo "$out" | head -30
  fi
}
for n in 1 2 4 8; do
  run --top-module hw_book -GN=$n "${src[@]}"
done
run --top-module hw_synth_top "${src[@]}" "$rtl/hw_synth_top.v"
# the order-level matching core: the tested configuration and two others
run --top-module hw_match "$rtl/hw_match.v"
run --top-module hw_match -GL=64 -GC=255 -GIDW=12 "$rtl/hw_match.v"
run --top-module hw_match -GL=8 -GC=7 -GIDW=6 "$rtl/hw_match.v"
echo "hw_lint: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
