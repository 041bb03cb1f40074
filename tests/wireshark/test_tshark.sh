#!/usr/bin/env bash
# tests/wireshark/test_tshark.sh - checks scripts/wireshark/tokex.lua with tshark.
#
# Usage: test_tshark.sh GEN_PCAP SOURCE_DIR   (registered by tests/wireshark/CMakeLists.txt)
# Builds nothing. GEN_PCAP writes a capture holding every proto.h template, plus the value
# every field must show (see gen_pcap.c). This script dissects the capture with tshark and
# the Lua dissector into PDML and fails unless:
#   - tshark exits 0 and says nothing on stderr but its running-as-root warning;
#   - no Lua error and no [Malformed Packet] appears anywhere;
#   - every expected field is there, in order, with the expected value and label text;
#   - in well-formed frames, no tokex field appears that was not expected (an expert info
#     included); in malformed frames, the expected expert info is there;
#   - a few display filters (tokex.fill.trade_id == ...) match exactly the expected frames.
# Exit 77 (skip) when tshark is not installed.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 GEN_PCAP SOURCE_DIR" >&2
	exit 2
fi
gen=$1
src=$2
lua=$src/scripts/wireshark/tokex.lua

if ! command -v tshark >/dev/null 2>&1; then
	echo "SKIP: tshark is not installed (Debian: apt-get install tshark)"
	exit 77
fi
[ -x "$gen" ] || { echo "FAIL: generator $gen is not built" >&2; exit 1; }
[ -r "$lua" ] || { echo "FAIL: $lua not found" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A private HOME: no personal preferences or plugins (a second tokex.lua) get in the way,
# and nothing is written outside $tmp.
tshark_run() {
	HOME=$tmp XDG_CONFIG_HOME=$tmp/config tshark -n -r "$tmp/tokex.pcap" \
		-X "lua_script:$lua" "$@"
}

# stderr of a tshark run, less the warning tshark prints when run as root
check_stderr() {
	local errs
	errs=$(grep -v -e '^Running as user "root"' -e '^ *This could be dangerous' "$1" || true)
	if [ -n "$errs" ]; then
		echo "FAIL: tshark wrote to stderr:"
		echo "$errs"
		return 1
	fi
}

"$gen" "$tmp/tokex.pcap" "$tmp/expected.txt"
tshark --version 2>/dev/null | head -1
grep '^#' "$tmp/expected.txt"

rc=0
tshark_run -T pdml >"$tmp/out.pdml" 2>"$tmp/err.txt" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "FAIL: tshark exited $rc"
	cat "$tmp/err.txt"
	exit 1
fi
check_stderr "$tmp/err.txt"
# A Lua error is an expert item "Lua Error: ..." (_ws.lua.error); an exception (bounds error,
# bad argument) shows as "[Malformed Packet: ...]" with _ws.malformed.expert. A hidden
# _ws.malformed alone is what Wireshark adds beside the dissector's own MALFORMED experts.
if grep -n -i -e 'lua error' -e '_ws\.lua\.error' -e 'Malformed Packet:' \
	-e '_ws\.malformed\.expert' "$tmp/out.pdml" | head -20 | grep . ; then
	echo "FAIL: Lua error or malformed-packet exception in the dissection (above)"
	exit 1
fi
if ! grep -q '<proto name="tokex"' "$tmp/out.pdml"; then
	echo "FAIL: no tokex protocol in the dissection: the script did not load or register"
	exit 1
fi

# PDML -> one line per field: frame <TAB> name <TAB> show <TAB> showname
awk '
function attr(line, name,    i, s) {
	i = index(line, " " name "=\"")
	if (i == 0)
		return ""
	s = substr(line, i + length(name) + 3)
	return substr(s, 1, index(s, "\"") - 1)
}
function unxml(s) {
	gsub(/&quot;/, "\"", s); gsub(/&apos;|&#x27;/, "\047", s); gsub(/&lt;/, "<", s)
	gsub(/&gt;/, ">", s); gsub(/&amp;/, "\\&", s)
	return s
}
/<field name="frame.number"/ { frame = attr($0, "show") }
/<field name="tokex[.]/ {
	print frame "\t" attr($0, "name") "\t" unxml(attr($0, "show")) "\t" unxml(attr($0, "showname"))
}' "$tmp/out.pdml" >"$tmp/actual.txt"

# Compare: the k-th expectation for (frame, field) against the k-th occurrence.
awk -F'\t' '
FNR == NR {
	if ($1 == "M") { malformed[$2] = 1; next }
	if ($1 != "F") next
	k = $2 SUBSEP $3
	n = ++ecnt[k]
	order[++nexp] = k SUBSEP n
	ev[k, n] = $4; ed[k, n] = $5
	next
}
{
	k = $1 SUBSEP $2
	n = ++acnt[k]
	av[k, n] = $3; an[k, n] = $4; aframe[k, n] = $1
}
function say(kn, what,    p) {
	split(kn, p, SUBSEP)
	printf "FAIL: frame %s %s (#%s): %s\n", p[1], p[2], p[3], what
	bad++
}
END {
	for (i = 1; i <= nexp; i++) {
		kn = order[i]
		if (!(kn in av)) { say(kn, "missing"); continue }
		if (ev[kn] != "*" && av[kn] != ev[kn])
			say(kn, "show \"" av[kn] "\", expected \"" ev[kn] "\"")
		else if (ev[kn] != "*")
			values++
		if (ed[kn] != "") {
			if (index(an[kn], ed[kn]) == 0)
				say(kn, "label \"" an[kn] "\" lacks \"" ed[kn] "\"")
			else
				labels++
		}
	}
	for (kn in av)
		if (!(kn in ev) && !(aframe[kn] in malformed))
			say(kn, "not expected (\"" an[kn] "\")")
	printf "checked %d expectations: %d field values and %d labels matched, %d failures\n",
		nexp, values, labels, bad
	exit bad ? 1 : 0
}' "$tmp/expected.txt" "$tmp/actual.txt"

# Display filters by field name.
while IFS=$'\t' read -r tag filter frames; do
	[ "$tag" = Y ] || continue
	got=$(tshark_run -Y "$filter" -T fields -e frame.number 2>"$tmp/err.txt" | paste -sd, -)
	check_stderr "$tmp/err.txt"
	if [ "$got" != "$frames" ]; then
		echo "FAIL: filter '$filter' matched frames '$got', expected '$frames'"
		exit 1
	fi
	echo "filter '$filter' -> frame(s) $got"
done <"$tmp/expected.txt"

echo "PASS"
