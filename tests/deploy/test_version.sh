#!/usr/bin/env bash
# test_version.sh PROGRAM...: each program answers --version with one line
# "<name> <version> (git <describe>)" and exit 0, naming itself as installed.
set -u
fail=0
for p in "$@"; do
	name=$(basename "$p")
	out=$("$p" --version 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL: $name --version: exit $rc: $out"
		fail=1
	elif ! printf '%s\n' "$out" | grep -Eq "^$name [0-9]+\.[0-9]+\.[0-9]+ \(git [^ )]+\)\$"; then
		echo "FAIL: $name --version: '$out' is not '$name X.Y.Z (git DESCRIBE)'"
		fail=1
	else
		echo "ok: $out"
	fi
done
exit $fail
