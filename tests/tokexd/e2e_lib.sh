# tests/tokexd/e2e_lib.sh: what the end-to-end scripts share (test_tokexd*.sh). Sourced,
# not run. The script sets LABEL (for FAIL lines) and LOG (tokexd's stdout; its stderr is
# $LOG.err) before anything can fail with a log; TOKEXD (the program), and empty WORK,
# TD_PID, IFACE before it calls e2e_setup or installs e2e_cleanup.

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
# tokexd's log lines without time and level (tkx_log.h "bare": "tokexd: journal: ..."), so
# the scripts read them as they are; every tokexd a script starts inherits it. The formats
# operators see (text, journal) are test_tkx_log's and test_deploy's.
export TOKEX_LOG_FORMAT=bare
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

# --- One tokexd on one TAP: set-up, configuration, start, stop, clean-up -------------
# (test_tokexd_{logon,flood,park,transport,lifecycle}.sh). Every wait is E2E_WAIT_S.

# e2e_setup NAME IFPREFIX NETS: a subnet of NETS (e2e_lock_net: sets NET, KIP, TIP), the
# TAP's name IFACE (IFPREFIX<net>_<pid>, cut to 15 characters), a work folder WORK
# (/tmp/tkx-NAME.XXXXXX) and MDPORT (17400 + NET; the group is 239.198.$NET.1).
e2e_setup() {
	e2e_lock_net "$3"
	IFACE=$2${NET}_$$
	IFACE=${IFACE:0:15}
	WORK=$(mktemp -d "/tmp/tkx-$1.XXXXXX") || fail "no work folder in /tmp"
	MDPORT=$((17400 + NET))
}

# e2e_tcp_port: a free TCP port on 127.0.0.1 for tokexd's gateway into TCPPORT: 27400 + NET,
# else up to 4 random ones (fails when all are taken).
e2e_tcp_port() {
	TCPPORT=$((27400 + NET))
	for _ in 1 2 3 4 5; do
		port_busy "$TCPPORT" || return 0
		TCPPORT=$((30000 + RANDOM % 30000))
	done
	port_busy "$TCPPORT" && fail "no free TCP port on 127.0.0.1"
	return 0
}

# The tcp: section of a configuration for a test whose clients use the gateway.
E2E_TCP_YAML="# A client starved between its connect and its Negotiate on a loaded machine is not one
# that holds a connection without credentials (test_gw tests the deadline).
tcp:
  negotiate_deadline_ms: 30000"

# e2e_config FILE MODE SOCKET [SECTIONS [MD_KEYS]]: writes a tokexd configuration into FILE:
# MODE rtc (run to completion) or pipeline (RX core 0, one matching core 1); market data
# on 239.198.$NET.1:$MDPORT (e2e_setup) with the md: keys MD_KEYS (lines indented by two
# spaces) beside them; the control socket SOCKET; the two demo firms (their secrets'
# bytes: what the clients sign with); then SECTIONS (YAML of top-level sections, as is).
e2e_config() {
	local cores="mode: rtc"
	case $2 in
	rtc) ;;
	pipeline) cores="mode: pipeline
cores:
  rx: 0
  match: [1]" ;;
	*) fail "e2e_config: mode '$2' is neither rtc nor pipeline" ;;
	esac
	cat >"$1" <<EOF
# $LABEL (generated by e2e_config)
$cores
md:
  group: 239.198.$NET.1
  port: $MDPORT
${5:-}
control:
  socket: $3
firms:
  - {id: 1, name: test-firm-1, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d31}
  - {id: 2, name: test-firm-2, secret: 746f6b65782d64656d6f2d7365637265742d6669726d2d32}
${4:-}
EOF
}

# td_start CONFIG [ARG... [-- EAL_ARG...]]: starts $TOKEXD on CONFIG with the TAP $IFACE
# (its address $TIP), then ARGs (--tcp 127.0.0.1:$TCPPORT, --no-tcp, ...), --seconds 3600,
# and the EAL's ARGs after --log-level='*:warning'; waits for its ready line (td_started).
# Sets START (this script's count of starts), LOG ($WORK/tokexd.$START.log; stderr in
# $LOG.err), TD_PID, and C1 (the first contract it lists). Returns 0 when ready, with the
# kernel's side of the TAP $KIP/24 and up; 1 when tokexd exited during its start (LOG says
# why); fails when it is not ready within E2E_WAIT_S.
td_start() {
	local conf=$1 args=() eal=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		args+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	eal=("$@")
	START=$((${START:-0} + 1))
	LOG=$WORK/tokexd.$START.log
	"$TOKEXD" -c "$conf" --vdev "net_tap0,iface=$IFACE" --ip "$TIP" "${args[@]}" \
		--seconds 3600 -- "${eal[@]}" --log-level='*:warning' >"$LOG" 2>"$LOG.err" &
	TD_PID=$!
	wait_until "$E2E_WAIT_S" td_started
	if ! grep -q '^tokexd: ready' "$LOG"; then
		td_gone && return 1
		td_where
		fail "tokexd not ready in $E2E_WAIT_S s"
	fi
	ip addr add "$KIP/24" dev "$IFACE" || fail "cannot address $IFACE"
	ip link set "$IFACE" up || fail "cannot bring $IFACE up"
	C1=$(awk '$1 == "tokexd:" && $2 == "contract" { print $3; exit }' "$LOG")
	[ -n "$C1" ] || fail "tokexd listed no contract"
	return 0
}

# td_stop SIGNAL: sends SIGNAL (TERM, KILL, ...) to tokexd ($TD_PID) and waits for it
# (E2E_WAIT_S), then kills -9 one still running; reaps it and removes its EAL folder
# /var/run/dpdk/tokexd-<pid>. Sets TD_RC (its exit status), TD_HUNG (1 when it outlived
# the wait, else empty) and TD_PID (empty). Nothing to do when TD_PID is empty.
td_stop() {
	TD_HUNG=
	[ -n "${TD_PID:-}" ] || return 0
	if kill -0 "$TD_PID" 2>/dev/null; then
		kill "-$1" "$TD_PID" 2>/dev/null
		wait_until "$E2E_WAIT_S" td_gone || TD_HUNG=1
		kill -KILL "$TD_PID" 2>/dev/null
	fi
	wait "$TD_PID" 2>/dev/null
	TD_RC=$?
	rm -rf "/var/run/dpdk/tokexd-$TD_PID"
	TD_PID=
}

# td_stop_clean [WHAT]: a clean stop: SIGTERM (td_stop), after which tokexd must be gone
# within E2E_WAIT_S and have exited 0 (fails otherwise; WHAT prefixes the reason).
td_stop_clean() {
	local what=${1:+$1: }
	td_stop TERM
	[ -z "$TD_HUNG" ] || fail "${what}tokexd still running $E2E_WAIT_S s after SIGTERM"
	[ "$TD_RC" = 0 ] || fail "${what}tokexd exit status $TD_RC"
}

# e2e_no_sanitizer [WHAT] -- FILE...: fails when a FILE (tokexd's logs) holds a report of
# AddressSanitizer, LeakSanitizer or UBSan (WHAT prefixes the reason).
e2e_no_sanitizer() {
	local what=
	[ "$1" = -- ] || { what="$1: "; shift; }
	shift
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$@" 2>/dev/null; then
		fail "${what}sanitizer report from tokexd ($(grep -lE 'AddressSanitizer|LeakSanitizer|runtime error:' "$@" 2>/dev/null | tr '\n' ' '))"
	fi
}

# e2e_cleanup: the EXIT trap (e2e_traps): tokexd killed -9 (td_stop), the TAP deleted, WORK
# removed unless TKX_KEEP is set (TKX_KEEP=1: keep it to debug). A script with more to
# undo defines its own trap that does that, then calls this.
e2e_cleanup() {
	td_stop KILL
	[ -n "${IFACE:-}" ] && ip link del "$IFACE" 2>/dev/null
	[ -n "${WORK:-}" ] && [ -z "${TKX_KEEP:-}" ] && rm -rf "$WORK"
	return 0
}

# e2e_traps [CLEANUP]: CLEANUP (default e2e_cleanup) on exit; INT and TERM exit 1 (so
# through it).
e2e_traps() {
	trap "${1:-e2e_cleanup}" EXIT
	trap 'exit 1' INT TERM
}

# --- end of the set-up section -----------------------------------------------------------

# Whether tokexd ($TD_PID) is gone; whether it said it is ready ($LOG) or is gone.
td_gone() { ! kill -0 "$TD_PID" 2>/dev/null; }
# td_where: where each thread of a tokexd that does not get ready is (state, kernel wait
# channel, kernel stack), so that a hang at start names its call rather than only the
# last line printed.
td_where() {
	local t
	echo "--- tokexd ($TD_PID) threads: state, wait channel, kernel stack ---"
	for t in /proc/"$TD_PID"/task/*; do
		[ -d "$t" ] || continue
		echo "thread ${t##*/} $(cat "$t/comm" 2>/dev/null):" \
			"$(awk '{ print $3 }' "$t/stat" 2>/dev/null) $(cat "$t/wchan" 2>/dev/null)"
		sed 's/^/    /' "$t/stack" 2>/dev/null | head -n 12
	done
}

td_started() { grep -q '^tokexd: ready' "$LOG" 2>/dev/null || td_gone; }
