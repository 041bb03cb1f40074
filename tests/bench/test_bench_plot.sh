#!/usr/bin/env bash
# test_bench_plot.sh: scripts/bench-plot draws one latency plot per workload of a
# scripts/bench CSV (docs/bench/wire_all_1431.csv: quoting, multi, lobster; requests lost
# at the higher rates), and refuses a file that is not tokex-loadgen's. The picture itself
# (lost requests on the right axis, the legend beside the plot) is for the eye.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v gnuplot >/dev/null || { echo "SKIP: gnuplot missing (scripts/setup installs gnuplot-nox)"; exit 77; }
fail() { echo "FAIL [bench-plot]: $*"; exit 1; }
W=$(mktemp -d /tmp/tkx-bench-plot.XXXXXX)
trap 'rm -rf "$W"' EXIT
out=$("$ROOT/scripts/bench-plot" "$ROOT/docs/bench/wire_all_1431.csv" "$W/lat_%s.png" "test" 2>"$W/err") ||
	fail "bench-plot failed: $(cat "$W/err")"
[ ! -s "$W/err" ] || fail "gnuplot complained: $(head -n 5 "$W/err")"
for w in quoting multi lobster; do
	grep -qx "$W/lat_$w.png" <<<"$out" || fail "no lat_$w.png named in: $out"
	[ "$(head -c 8 "$W/lat_$w.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
		fail "lat_$w.png is not a PNG"
done
# A CSV with nothing lost: the right axis still has a range (no gnuplot warning).
{ head -n 1 "$ROOT/docs/bench/wire_all_1431.csv"; grep -m 2 '^quoting,[0-9]*,[0-9]*,[0-9]*,[0-9]*,[0-9]*,[0-9]*,[0-9]*,0,' "$ROOT/docs/bench/wire_all_1431.csv"; } >"$W/none.csv"
"$ROOT/scripts/bench-plot" "$W/none.csv" "$W/none_%s.png" >/dev/null 2>"$W/err" || fail "no-loss CSV: $(cat "$W/err")"
[ ! -s "$W/err" ] || fail "gnuplot complained on the no-loss CSV: $(head -n 5 "$W/err")"
[ -s "$W/none_quoting.png" ] || fail "no plot for the no-loss CSV"
echo "x,y" >"$W/bad.csv"
"$ROOT/scripts/bench-plot" "$W/bad.csv" "$W/bad_%s.png" >/dev/null 2>&1 && fail "a CSV without loadgen's columns was drawn"
echo "PASS: test_bench_plot"
