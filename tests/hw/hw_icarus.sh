#!/usr/bin/env bash
# hw_icarus.sh RTL_DIR TB_DIR OUT_DIR - the Icarus Verilog smoke test (hw/tb/hw_tb.v):
# twenty back-to-back operations on hw_book, each checked. 77 without iverilog/vvp.
# HW_IVERILOG_EXTRA (environment) adds flags, e.g. -DHW_BUG_NOFWD to plant a bug.
set -u
rtl=$1 tb=$2 out=$3
for t in iverilog vvp; do
  command -v $t >/dev/null || { echo "hw_icarus: skipped: $t not on PATH"; exit 77; }
done
mkdir -p "$out"
iverilog -g2005 -Wall ${HW_IVERILOG_EXTRA:-} -o "$out/hw_tb.vvp" "$tb/hw_tb.v" \
  "$rtl/hw_lt.v" "$rtl/hw_side.v" "$rtl/hw_book.v" || { echo "hw_icarus: iverilog failed"; exit 1; }
res=$(vvp -n "$out/hw_tb.vvp") || { echo "$res"; echo "hw_icarus: vvp failed"; exit 1; }
echo "$res"
# Exactly the table's twenty, none failed.
echo "$res" | grep -q '^hw_tb: 20 passed, 0 failed$'
