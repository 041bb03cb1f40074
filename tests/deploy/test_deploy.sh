#!/usr/bin/env bash
# test_deploy.sh BUILD_DIR E2E_CLIENT: tokex deployed as an operator would, from its .deb.
#   1. cpack builds the .deb from BUILD_DIR (its install rules: cmake/TokexInstall.cmake);
#   2. dpkg installs it into a clean root (dpkg --root, maintainer scripts chrootless:
#      they honour DPKG_ROOT): the programs, libraries, headers, pkg-config files, schema,
#      dissector, unit, sysusers entry and the example configuration in their places, the
#      tokex user made by the postinst, `tokexd --version` from the root;
#   3. tokexd starts as the unit's ExecStart line says (its paths in the root), on the
#      installed example configuration with this test's port, addresses and paths put in,
#      on a TAP device, with what systemd would give it: NOTIFY_SOCKET (a datagram socket
#      this test listens on with socat: READY=1 expected), RUNTIME_DIRECTORY (the DPDK
#      telemetry socket at the path telemetry.file_prefix names);
#   4. /metrics passes `promtool check metrics`; a real Prometheus (loopback) scrapes it;
#   5. tokex-mm from the root trades over UDP on the TAP; Prometheus' HTTP API gives the
#      trade counter back; telemetry's /tokex/contracts are objects, flow_steering whole;
#   6. an operator's command on the control socket from another uid (65534): logged with
#      that uid;
#   7. SIGTERM: STOPPING=1, exit 0, the log: every line with journald's <N> priority prefix
#      (standard output and error on one stream, JOURNAL_STREAM naming it, as systemd
#      does), the lines it must have; the text format (UTC time, level) when not under
#      systemd; then dpkg purges the package and nothing of it is left in the root.
# Subnets 198.18.140-144.0/24; loopback TCP ports 19400-19449 (metrics, Prometheus, TCP
# order entry: 10 per subnet). Skips (77) without root, /dev/net/tun, dpkg, socat, curl,
# promtool or prometheus.
set -u
BUILD=${1:?usage: test_deploy.sh BUILD_DIR E2E_CLIENT}
E2E=${2:?usage: test_deploy.sh BUILD_DIR E2E_CLIENT}
LABEL=deploy
. "$(dirname "$0")/../tokexd/e2e_lib.sh"
e2e_require
for t in dpkg dpkg-deb cpack socat curl promtool prometheus xxd setpriv; do
	command -v "$t" >/dev/null || skip "$t missing (scripts/setup installs it)"
done
[ -f "$BUILD/CPackConfig.cmake" ] || fail "$BUILD has no CPackConfig.cmake (configure it first)"

WORK=$(mktemp -d /tmp/tokex-deploy-XXXXXX)
chmod 0711 "$WORK" # the operator of step 6 (uid 65534) reaches the control socket in it
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ -n "${IFACE:-}" ] && ip link del "$IFACE" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

e2e_lock_net "140 141 142 143 144"
OFF=$(((NET - 140) * 10))
MPORT=$((19400 + OFF)) PPORT=$((19401 + OFF)) TPORT=$((19402 + OFF))
IFACE=tkxdep$NET
for p in $MPORT $PPORT $TPORT; do
	port_busy "$p" && fail "127.0.0.1:$p is taken by something else"
done

# --- 1. the package ---------------------------------------------------------------------
echo "[deploy] cpack -G DEB from $BUILD"
timeout -k 5 "$E2E_WAIT_S" cpack -G DEB -B "$WORK/pkg" --config "$BUILD/CPackConfig.cmake" \
	>"$WORK/cpack.log" 2>&1 || fail "cpack failed: $(tail -n 5 "$WORK/cpack.log")"
DEB=$(ls "$WORK"/pkg/tokex_*.deb 2>/dev/null | head -n 1)
[ -f "$DEB" ] || fail "no .deb in $WORK/pkg: $(tail -n 5 "$WORK/cpack.log")"
dpkg-deb -f "$DEB" Depends | grep -q "librte-eal" || fail "the .deb's Depends lacks DPDK: $(dpkg-deb -f "$DEB" Depends)"
dpkg-deb -f "$DEB" Depends | grep -q "liburing" || fail "the .deb's Depends lacks liburing"
echo "[deploy] $(basename "$DEB"): Depends $(dpkg-deb -f "$DEB" Depends | cut -c1-120)..."

# --- 2. install into a clean root --------------------------------------------------------
R=$WORK/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
: >"$R/var/lib/dpkg/status"
dpkg --root="$R" --force-depends --force-script-chrootless --log="$WORK/dpkg.log" -i "$DEB" \
	>"$WORK/dpkg-i.out" 2>&1 || fail "dpkg -i into $R failed: $(tail -n 5 "$WORK/dpkg-i.out")"
for f in usr/bin/tokexd usr/bin/tokexctl usr/bin/tokex-journal usr/bin/tokex-replay \
	usr/bin/tokex-mm etc/tokex/tokexd.yaml usr/lib/systemd/system/tokexd.service \
	usr/lib/sysusers.d/tokex.conf usr/include/tokex/client.h usr/include/tokex/tokex-sbe.xml \
	usr/share/tokex/tokex-sbe.xml usr/lib/x86_64-linux-gnu/wireshark/plugins/tokex.lua \
	usr/share/doc/tokex/copyright; do
	[ -e "$R/$f" ] || fail "the package did not install /$f"
done
ls "$R"/usr/lib/*/pkgconfig/libtokex-client.pc >/dev/null 2>&1 || fail "no libtokex-client.pc"
PKG_CONFIG_PATH=$(dirname "$(ls "$R"/usr/lib/*/pkgconfig/libtokex-client.pc)") PKG_CONFIG_SYSROOT_DIR=$R \
	pkg-config --libs libtokex-client | grep -q -- "-ltokex_client" || fail "pkg-config libtokex-client does not resolve"
grep -q '^tokex:' "$R/etc/passwd" 2>/dev/null || fail "the postinst did not make the tokex user in $R/etc/passwd"
grep -q "^/etc/tokex/tokexd.yaml$" "$R/var/lib/dpkg/info/tokex.conffiles" ||
	fail "/etc/tokex/tokexd.yaml is not a conffile"
"$R/usr/bin/tokexd" --version | grep -Eq '^tokexd [0-9]+\.[0-9]+\.[0-9]+ \(git ' ||
	fail "tokexd --version from the root: $("$R/usr/bin/tokexd" --version 2>&1)"
echo "[deploy] installed into $R: $("$R/usr/bin/tokexd" --version)"

# --- 3. start as the unit says -----------------------------------------------------------
UNIT=$R/usr/lib/systemd/system/tokexd.service
grep -q '^Type=notify$' "$UNIT" || fail "the unit is not Type=notify"
EXEC=$(sed -n 's/^ExecStart=//p' "$UNIT")
[ "$EXEC" = "/usr/bin/tokexd --config /etc/tokex/tokexd.yaml" ] || fail "unexpected ExecStart: $EXEC"
SECRET=tokex-deploy-test-secret-firm-1
CONF=$R/etc/tokex/tokexd.yaml
# The example's own values, replaced by this test's: its TAP, addresses, ports and paths.
sed -i -e "s|vdev: \"net_tap0,iface=tkx0\"|vdev: \"net_tap0,iface=$IFACE\"|" \
	-e "s|  ip: \"198.18.0.2\"|  ip: \"$TIP\"|" \
	-e "s|listen: \"127.0.0.1:7420\"|listen: \"127.0.0.1:$MPORT\"|" \
	-e "s|  port: 7412$|  port: $TPORT|" \
	-e "s|socket: \"/run/tokex/tokexd.sock\"|socket: \"$WORK/run/tokexd.sock\"|" \
	-e "s|dir: \"/var/lib/tokex/journal\"|dir: \"$WORK/state/journal\"|" \
	-e "s|file_prefix: \"tokexd\"|file_prefix: \"tokexd-deploy-$NET\"|" \
	-e "s|group: \"239.198.0.1\"|group: \"239.198.$NET.1\"|" \
	-e "s|secret: \"0*\"|secret: \"$(printf %s "$SECRET" | xxd -p | tr -d '\n')\"|" "$CONF"
for v in "iface=$IFACE" "$TIP" "127.0.0.1:$MPORT" "port: $TPORT" "$WORK/run/tokexd.sock" \
	"$WORK/state/journal" "tokexd-deploy-$NET"; do
	grep -qF -- "$v" "$CONF" || fail "could not set $v in the example configuration"
done
mkdir -p "$WORK/run" "$WORK/state"
NOTIFY=$WORK/notify.sock
socat -u "UNIX-RECV:$NOTIFY" "OPEN:$WORK/notify.log,creat,append" &
PIDS+=($!)
wait_until "$E2E_WAIT_S" test -S "$NOTIFY" || fail "socat did not listen on $NOTIFY"
LOG=$WORK/tokexd.log
# shellcheck disable=SC2086 # the ExecStart line's words
set -- ${EXEC//\/usr\/bin\//$R/usr/bin/}
set -- "${@//\/etc\/tokex\//$R/etc/tokex/}"
# What systemd gives a service's standard output and error: one stream to the journal,
# named by JOURNAL_STREAM (DEV:INO). Not e2e_lib's bare log format: the one a unit gets.
: >"$LOG"
JS=$(stat -c '%d:%i' "$LOG")
env -u TOKEX_LOG_FORMAT NOTIFY_SOCKET="$NOTIFY" JOURNAL_STREAM="$JS" RUNTIME_DIRECTORY="$WORK/run" \
	STATE_DIRECTORY="$WORK/state" "$@" -- --log-level='*:warning' >>"$LOG" 2>&1 &
TD_PID=$!
PIDS+=("$TD_PID")
ready() { grep -q 'READY=1' "$WORK/notify.log" 2>/dev/null || td_gone; }
wait_until "$E2E_WAIT_S" ready || fail "no READY=1 on the notify socket in $E2E_WAIT_S s"
td_gone && fail "tokexd exited during start-up"
grep -q '^<5>tokexd: ready' "$LOG" || fail "READY=1 came before tokexd said it was ready (at notice)"
grep -q 'STATUS=ready: order entry open' "$WORK/notify.log" || fail "no STATUS= with READY=1"
echo "[deploy] READY=1 on $NOTIFY"
ip addr add "$KIP/24" dev "$IFACE" || fail "cannot address $IFACE"
ip link set "$IFACE" up || fail "cannot bring $IFACE up"
TEL=$WORK/run/dpdk/tokexd-deploy-$NET/dpdk_telemetry.v2
wait_until "$E2E_WAIT_S" test -S "$TEL" || fail "no telemetry socket at the configured path $TEL"

# --- 4. metrics: promtool, then a real Prometheus -----------------------------------------
curl -sf "http://127.0.0.1:$MPORT/metrics" >"$WORK/metrics.txt" || fail "no /metrics on 127.0.0.1:$MPORT"
promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool.out" 2>&1 ||
	fail "promtool check metrics: $(head -n 10 "$WORK/promtool.out")"
for m in tokex_net_rx_pkts_total tokex_session_neg_ok_total tokex_match_trades_total \
	tokex_request_reply_seconds_bucket tokex_journal_durable_seconds_count \
	'tokex_rejects_total{reason="busy"}' tokex_journal_lag_records tokex_build_info \
	'tokex_session_ends_total{how="client"}' 'tokex_net_drops_total{reason="' \
	'tokex_engine_rejects_total{reason="OutsidePriceBand"}' 'tokex_engine_rejects_total{reason="Halted"}'; do
	grep -qF "$m" "$WORK/metrics.txt" || fail "/metrics lacks $m"
done
echo "[deploy] /metrics: $(grep -c '^tokex_' "$WORK/metrics.txt") samples, promtool clean"
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tokexd
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
EOF
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
	--web.listen-address="127.0.0.1:$PPORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
query() { curl -sf --get "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1"; }
scraped() { query 'up{job="tokexd"}' 2>/dev/null | grep -q '"value":\[[0-9.]*,"1"\]'; }
wait_until "$E2E_WAIT_S" scraped || fail "Prometheus did not scrape tokexd: $(tail -n 5 "$WORK/prometheus.log")"
echo "[deploy] Prometheus on 127.0.0.1:$PPORT scrapes tokexd"

# --- 5. trade ------------------------------------------------------------------------------
CONTRACT=$(sed -n 's/^<6>tokexd: contract \([0-9]*\) .*/\1/p' "$LOG" | head -n 1)
[ -n "$CONTRACT" ] || fail "no contract in tokexd's log"
timeout -k 5 "$E2E_CLIENT_S" "$R/usr/bin/tokex-mm" --udp "$TIP:7411" --firm 1 --secret "$SECRET" \
	--contract "$CONTRACT" --orders 12 --take-every 1 --interval 20 --seconds 0 --quiet \
	>"$WORK/mm.out" 2>&1 || fail "tokex-mm failed: $(tail -n 5 "$WORK/mm.out")"
grep -q 'result: PASS' "$WORK/mm.out" || fail "tokex-mm: $(tail -n 3 "$WORK/mm.out")"
grep -Eq 'fills [1-9]' "$WORK/mm.out" || fail "tokex-mm made no trade: $(grep summary "$WORK/mm.out")"
echo "[deploy] $(grep 'result:' "$WORK/mm.out")"
traded() { query 'tokex_match_trades_total' 2>/dev/null | grep -Eq '"value":\[[0-9.]*,"[1-9][0-9]*"\]'; }
wait_until "$E2E_WAIT_S" traded || fail "Prometheus' API does not give tokex_match_trades_total >= 1: $(query tokex_match_trades_total)"
echo "[deploy] Prometheus API: $(query tokex_match_trades_total | grep -o '"value":\[[^]]*\]')"
# The Grafana dashboard's queries (installed with the package) evaluate on this Prometheus.
DASH=$R/usr/share/doc/tokex/examples/tokex-dashboard.json
[ -f "$DASH" ] || fail "the package has no Grafana dashboard"
n=0
while IFS= read -r e; do
	e=${e//\\\"/\"}
	e=${e//\$__rate_interval/1m}
	e=${e//\$job/tokexd}
	r=$(query "$e") || fail "dashboard query refused by Prometheus: $e"
	printf '%s' "$r" | grep -q '"status":"success"' || fail "dashboard query failed: $e: $r"
	n=$((n + 1))
done < <(sed -n 's/^ *"expr": "\(.*\)",\{0,1\}$/\1/p' "$DASH")
[ "$n" -ge 10 ] || fail "only $n queries read from $DASH"
echo "[deploy] the dashboard's $n queries evaluate"
curl -sf "http://127.0.0.1:$MPORT/metrics" | grep -Eq '^tokex_request_reply_seconds_count [1-9]' ||
	fail "no request-to-reply latency recorded"
curl -sf "http://127.0.0.1:$MPORT/metrics" | grep -Eq '^tokex_journal_durable_seconds_count [1-9]' ||
	fail "no journal latency recorded"
"$E2E" telemetry --telemetry "$TEL" /tokex/contracts >"$WORK/contracts.json" 2>&1 ||
	fail "telemetry /tokex/contracts: $(cat "$WORK/contracts.json")"
grep -Eq "\"id\": ?$CONTRACT, ?\"core\": ?0, ?\"phase\": ?\"" "$WORK/contracts.json" ||
	fail "/tokex/contracts does not give objects: $(head -c 300 "$WORK/contracts.json")"
"$E2E" telemetry --telemetry "$TEL" /tokex/stats >"$WORK/stats.json" 2>&1 || fail "telemetry /tokex/stats"
grep -q '"flow_steering": *\[' "$WORK/stats.json" || fail "flow_steering is not the array of pieces"
"$E2E" telemetry --telemetry "$TEL" /tokex/flow_steering >"$WORK/flow.json" 2>&1 ||
	fail "telemetry /tokex/flow_steering"
echo "[deploy] telemetry at $TEL: contracts as objects, flow steering whole"

# --- 6. an operator's action, logged with who -------------------------------------------
# From uid 65534 (group 0: the socket is 0660 root's), so that the uid logged is the peer's.
OPS=$WORK/run/tokexd.sock
for cmd in "halt $CONTRACT" "resume $CONTRACT"; do
	# shellcheck disable=SC2086 # the command's words
	setpriv --reuid=65534 --regid=0 --clear-groups "$R/usr/bin/tokexctl" -s "$OPS" $cmd \
		>"$WORK/ctl.out" 2>&1 || fail "tokexctl $cmd as uid 65534: $(cat "$WORK/ctl.out")"
done
setpriv --reuid=65534 --regid=0 --clear-groups "$R/usr/bin/tokexctl" -s "$OPS" contracts \
	>"$WORK/ctl.out" 2>&1 || fail "tokexctl contracts: $(cat "$WORK/ctl.out")"
# ping, in JSON: who answers (this package's tokexd), and the round trip.
"$R/usr/bin/tokexctl" -j -s "$OPS" ping >"$WORK/ping.json" 2>&1 || fail "tokexctl -j ping: $(cat "$WORK/ping.json")"
grep -Eq '^\{"command":"ping","ok":true,"output":\["pong tokexd [0-9]+\.[0-9]+\.[0-9]+ \(git [^"]*\) pid '"$TD_PID"'"\],"rtt_us":[0-9.e+-]+\}$' \
	"$WORK/ping.json" || fail "tokexctl -j ping: $(cat "$WORK/ping.json")"
echo "[deploy] $(cat "$WORK/ping.json")"
logged() { grep -Eq "^<5>tokexd: control: operator uid 65534 pid [0-9]+: resume $CONTRACT: OK$" "$LOG"; }
wait_until "$E2E_WAIT_S" logged || fail "the operator's resume is not logged with uid 65534: $(grep operator "$LOG")"
grep -Eq "^<5>tokexd: control: operator uid 65534 pid [0-9]+: halt $CONTRACT: OK$" "$LOG" ||
	fail "the operator's halt is not logged with its uid: $(grep operator "$LOG")"
grep -q "operator .*: contracts" "$LOG" && fail "a read-only command (contracts) was logged as an action"
echo "[deploy] operator actions logged: $(grep -m 1 'operator uid' "$LOG")"

# --- 7. clean stop, the log, removal ------------------------------------------------------
kill -TERM "$TD_PID"
wait_until "$E2E_WAIT_S" td_gone || fail "tokexd did not stop on SIGTERM"
wait "$TD_PID"
rc=$?
[ "$rc" = 0 ] || fail "tokexd exited $rc on SIGTERM"
grep -q 'STOPPING=1' "$WORK/notify.log" || fail "no STOPPING=1 on the notify socket"
for l in '^<5>tokexd: ready: port' '^<6>tokexd: metrics: Prometheus endpoint http://127.0.0.1:' \
	'^<6>tokexd: stats: requests [1-9]' '^<5>tokexd: stopped$' '^<6>tokexd: journal: ' \
	'^<6>tokexd: config ' '^<5>tokexd: control: '; do
	grep -Eq "$l" "$LOG" || fail "the log lacks a line /$l/"
done
grep -q 'WARNING: firm' "$LOG" && fail "the placeholder-secret warning with a real secret"
grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG" && fail "sanitizer report in tokexd's output"
# Every line journald would get carries its priority: <N>tokexd: ...
bad=$(grep -nEv '^<[0-7]>tokexd: ' "$LOG" | head -n 3)
[ -z "$bad" ] || fail "log lines without a <N>tokexd: priority prefix: $bad"
echo "[deploy] SIGTERM: STOPPING=1, exit 0, the log complete: $(wc -l <"$LOG") lines, each with" \
	"its priority ($(grep -oE '^<[0-7]>' "$LOG" | sort | uniq -c | tr -s ' \n' ' '))"
# Outside systemd (no NOTIFY_SOCKET, no JOURNAL_STREAM): the text format, time and level.
env -u TOKEX_LOG_FORMAT -u NOTIFY_SOCKET -u JOURNAL_STREAM "$R/usr/bin/tokexd" --config "$CONF" \
	--ip not-an-address >"$WORK/text.out" 2>"$WORK/text.err" && fail "tokexd took --ip not-an-address"
grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z err +tokexd: --ip: 'not-an-address' is not an IPv4 address$" \
	"$WORK/text.err" || fail "the text format's error line: $(cat "$WORK/text.err")"
echo "[deploy] text format: $(head -n 1 "$WORK/text.err")"
dpkg --root="$R" --force-script-chrootless --log="$WORK/dpkg.log" -P tokex >"$WORK/dpkg-P.out" 2>&1 ||
	fail "dpkg -P failed: $(tail -n 5 "$WORK/dpkg-P.out")"
left=$(find "$R/usr" "$R/etc/tokex" -type f 2>/dev/null | head -n 5)
[ -z "$left" ] || fail "files left after purge: $left"
echo "PASS: test_deploy"
exit 0
