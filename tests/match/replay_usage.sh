#!/bin/sh
# replay_usage.sh TOOL: lines tokex-replay cannot parse are usage errors (exit 2, the line
# number on stderr); --help exits 0; an empty input prints nothing.
tool=$1
fail=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT

bad() { # bad LINE_NO INPUT
	printf '%b' "$2" | "$tool" >/dev/null 2>"$err"
	rc=$?
	if [ "$rc" -ne 2 ] || ! grep -q "line $1:" "$err"; then
		printf 'FAIL: input %s: rc %s, stderr: %s\n' "$2" "$rc" "$(cat "$err")"
		fail=1
	fi
}

ok='N,1,B,10,5,GTC,0\n'
bad 1 'N,1,B,10,5,GTC\n'                 # too few fields
bad 1 'N,1,B,10,5,GTC,0,show=1,stop=2,x\n' # too many
bad 2 "${ok}"'E,1\n'                     # E takes nothing
bad 2 "${ok}"'N,2,B,10,5,GTC,0\0show=1\n' # a NUL byte
bad 2 "${ok}"'C\n'                       # C without id
bad 2 "${ok}"'C,1,2\n'
bad 2 "${ok}"'M,1,10\n'
bad 1 'N,x,B,10,5,GTC,0\n'               # non-numeric id
bad 1 'N,,B,10,5,GTC,0\n'                # empty id
bad 1 'N,1,B,1O,5,GTC,0\n'               # garbage in a price
bad 1 'N,1,B,10,5x,GTC,0\n'
bad 1 'N, 1,B,10,5,GTC,0\n'              # spaces are not allowed
bad 1 'N,1,B,10,+5,GTC,0\n'
bad 1 'N,9223372036854775808,B,10,5,GTC,0\n' # out of int64
bad 1 'N,1,B,-9223372036854775809,5,GTC,0\n'
bad 1 'N,1,B,10,5,GTC,-1\n'              # owner is unsigned
bad 1 'N,1,B,10,5,GTC,18446744073709551616\n'
bad 3 '# comment\n\nX,1\n'               # unknown command; comments/empty lines count
bad 1 'n,1,B,10,5,GTC,0\n'
bad 1 ' \n'

"$tool" --help >/dev/null || { echo "FAIL: --help"; fail=1; }
"$tool" extra </dev/null >/dev/null 2>&1
[ $? -eq 2 ] || { echo "FAIL: a stray argument is not a usage error"; fail=1; }
out=$(printf '' | "$tool") && [ -z "$out" ] || { echo "FAIL: empty input"; fail=1; }
# CRLF line ends and the largest owner are accepted.
out=$(printf 'N,1,B,10,5,GTC,18446744073709551615\r\nN,2,S,10,2,GTC,18446744073709551615\r\n' | "$tool")
[ "$out" = "$(printf 'X,2,2,STP\nO,B,10,1,5')" ] || { echo "FAIL: CRLF/owner: $out"; fail=1; }
exit $fail
