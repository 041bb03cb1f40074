#!/usr/bin/env bash
# hw_formal.sh RTL_DIR TB_DIR - proves hw_book's invariants (hw_side.v's `ifdef FORMAL
# assertions: levels packed, strictly sorted, none empty, ADD never wraps; and the
# harness's own) for every reachable state: yosys sat -tempinduct on hw/tb/hw_formal.v
# (N = 3, 8-bit fields), base case from the all-zero (reset) state. 77 without yosys.
# HW_FORMAL_EXTRA (environment) adds read_verilog flags, e.g. -DHW_BUG_NOFWD.
set -u
rtl=$1 tb=$2
command -v yosys >/dev/null || { echo "hw_formal: skipped: yosys not on PATH"; exit 77; }
log=$(yosys -p "read_verilog -formal -DFORMAL ${HW_FORMAL_EXTRA:-} $rtl/hw_lt.v $rtl/hw_side.v \
  $rtl/hw_book.v $tb/hw_formal.v; prep -top hw_formal; flatten; opt_clean; \
  sat -tempinduct -prove-asserts -set-init-zero -maxsteps 10 -verify" 2>&1)
rc=$?
echo "$log" | grep -E "Base case for induction length|Induction step (proven|failed)|ERROR" | tail -8
nassert=$(echo "$log" | grep -c "Import proof for assert")
if [[ $rc -eq 0 ]] && echo "$log" | grep -q "Induction step proven: SUCCESS"; then
  echo "hw_formal: $nassert assertions proven by induction: 1 passed, 0 failed"
  exit 0
fi
echo "hw_formal: not proven (see above): 0 passed, 1 failed"
exit 1
