# tests/tokexd/e2e_lib.sh: what the end-to-end scripts share (test_tokexd.sh,
# test_tokexd_journal.sh). Sourced, not run. The script sets LABEL (for FAIL lines) and
# LOG (tokexd's stdout; its stderr is $LOG.err) before anything can fail with a log.

skip() { echo "SKIP: $*"; exit 77; }

# FAIL [LABEL]: the reason, then the last 40 lines of tokexd's output when there is one.
fail() {
	echo "FAIL [$LABEL]: $*"
	if [ -n "${LOG:-}" ] && [ -f "$LOG" ]; then
		echo "--- tokexd stdout (last 40 lines) ---"
		tail -n 40 "$LOG"
		echo "--- tokexd stderr (last 40 lines) ---"
		tail -n 40 "$LOG.err"
	fi
	exit 1
}

# Root, a TUN device, iproute2 and flock (skip or fail with the reason).
e2e_require() {
	[ "$(id -u)" = 0 ] || skip "needs root (TAP device, raw sockets)"
	[ -c /dev/net/tun ] || skip "/dev/net/tun missing (modprobe tun)"
	command -v ip >/dev/null || fail "iproute2 ('ip') missing"
	command -v flock >/dev/null || fail "flock (util-linux) missing"
}

# A subnet of our own: the first of the /24s 198.18.N.0 in $1 whose lock we get (held
# until the script exits). Sets NET, KIP (the kernel side, .1) and TIP (tokexd, .2). When
# other runs (other builds' test suites on this machine) hold them all, it waits for one,
# up to TKX_E2E_LOCK_S seconds (1800): a run holds its subnet for one test.
e2e_lock_net() {
	local end=$((SECONDS + ${TKX_E2E_LOCK_S:-1800})) said=
	NET=
	while :; do
		for n in $1; do
			exec {lockfd}>"/tmp/tokex-e2e-198.18.$n.lock"
			if flock -n "$lockfd"; then
				NET=$n
				break 2
			fi
			exec {lockfd}>&-
		done
		[ "$SECONDS" -lt "$end" ] || break
		[ -n "$said" ] || echo "note: every subnet of $1 is held by another run; waiting"
		said=1
		sleep 1
	done
	[ -n "$NET" ] || fail "every subnet of $1 is held by another run"
	KIP=198.18.$NET.1
	TIP=198.18.$NET.2
	if ip -4 -o addr show | grep -q " $KIP/"; then
		fail "$KIP is already configured on an interface"
	fi
}

# Whether something listens on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The bound, in seconds, on one wait for tokexd - its start, its telemetry socket, its
# stop - and on a client's run (TKX_E2E_WAIT_S overrides it). A bound for a hang, never a
# measure of speed: on a loaded machine (scripts/test-loaded) an ASan tokexd can take tens
# of seconds to start (over 100 s seen with other builds running), a client many times its
# usual time.
E2E_WAIT_S=${TKX_E2E_WAIT_S:-300}
E2E_CLIENT_S=$((2 * E2E_WAIT_S))

# wait_until SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds (0), or until
# SECONDS have passed (1).
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# Whether tokexd ($TD_PID) is gone; whether it said it is ready ($LOG) or is gone.
td_gone() { ! kill -0 "$TD_PID" 2>/dev/null; }
td_started() { grep -q '^tokexd: ready' "$LOG" 2>/dev/null || td_gone; }
