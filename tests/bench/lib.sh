# shellcheck shell=bash
# Shared by the path benchmarks (bash; sourced first): $top, the source
# tree, and $build, the benchmark's argument or $top/build.  The functions
# need what tests/e2e/lib.sh and Prosody's env provide once the start-up
# has run (the benchmark's own, or that of the end-to-end test it
# sources): $t, die, pids, wait_for, status, $py.
#
#   bench_env NAME COUNT WARMUP PROGRAM...
#                             $count, $warmup and $runs from BENCH_COUNT,
#                             BENCH_WARMUP (COUNT, WARMUP by default) and
#                             BENCH_RUNS (3); exit 1 unless every PROGRAM is
#                             built under $build
#   bench_numbers VALUE...    exit 1 unless every VALUE is a number
#   bench_prosody             Prosody at "info" (a benchmark of the debug log
#                             measures the disk), the relay component and two
#                             echo users; restarted
#   endpoint_uuid GW PROTO    the UUID gateway GW's adapter of PROTO speaks as
#   bench_broker GA GB FLOW...
#                             xgw-broker with gateway GA bound to alice, GB to
#                             bob, and the flows ("ID SRC DST PROTO DIR") active
#   bench_registered N        both gateways registered with the broker and
#                             gateway A holding N active flows
#   report_gateways ADAPTER   each xgwd and its ADAPTER process reported
#   bench_echo [ARGS]         xmpprelay in the broker's place, and with ARGS
#                             xmppecho's receiver (echo2) with them
#   echo_send ARGS            one run of xmppecho's sender (echo1) to echo2
#   report_proc NAME PID      a process whose CPU and memory are reported
#   measure KIND CONFIG CMD   one run of CMD, which prints bench_report's line
#   fig KIND CONFIG FIELD     the median over the runs: 3 per s, 4 p50, 5 p99
#   pct A B                   100 * A / B
#   cpu_table KIND...         per process: % of one CPU and us per exchange,
#                             over the runs of KIND, or of "KIND CONFIG"
#   rss_table                 peak RSS (VmHWM) after start and at the end
#
# measure counts $count + $warmup exchanges a run.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(readlink -f "${1:-$top/build}")
relay_jid=relay.localhost
procs=""

bench_env() {
	local p
	bench_name=$1
	count=${BENCH_COUNT:-$2}
	warmup=${BENCH_WARMUP:-$3}
	runs=${BENCH_RUNS:-3}
	shift 3
	for p in "$@"; do
		[ -x "$build/$p" ] ||
			{ echo "$bench_name: $build/$p is not built (ninja -C $build)" >&2; exit 1; }
	done
	bench_numbers "$count" "$warmup" "$runs"
}

bench_numbers() {
	local n
	for n in "$@"; do
		case $n in '' | *[!0-9]*) echo "$bench_name: '$n' is not a number (BENCH_*)" >&2; exit 1 ;; esac
	done
}

bench_prosody() {
	local cfg=$t/xmpp/prosody.cfg.lua u
	sed -i 's/^log = { debug = /log = { info = /' "$cfg"
	grep -q '^log = { info = ' "$cfg" || die "cannot set Prosody's log level"
	# as xgwd's link: with Nagle, every answer waits for a delayed ACK
	grep -q '^network_settings = { nagle = false[;}]' "$cfg" ||
		die "Prosody's configuration leaves Nagle's algorithm on"
	printf '\nComponent "%s"\n\tcomponent_secret = "relay-secret"\n' \
		"$relay_jid" >>"$cfg"
	echo relay-secret >"$t/relay.secret"
	for u in echo1 echo2; do
		prosodyctl --config "$cfg" register "$u" localhost "$u-secret" \
			>>"$t/prosodyctl.log" 2>&1 ||
			die "prosodyctl register $u: $(tail -3 "$t/prosodyctl.log")"
	done
	"$top/tests/e2e/prosody.sh" restart "$t/xmpp" >>"$t/prosody.out" 2>&1 ||
		die "Prosody did not restart: $(tail -5 "$t/prosody.out")"
}

endpoint_uuid() {
	"$py" -c 'import sys, uuid
print("urn:uuid:%s" % uuid.uuid5(uuid.UUID("57fe6229-08f5-4728-84b3-cc97fe9d4629"), sys.argv[1]))' "$1/$2"
}

bench_broker() {
	local ga=$1 gb=$2 f
	shift 2
	printf 'bind %s %s\nbind %s %s\n' "$ga" "$USER1_JID" "$gb" "$USER2_JID" >"$t/flows"
	for f in "$@"; do echo "flow $f"; done >>"$t/flows"
	echo "$XMPP_COMPONENT_SECRET" >"$t/broker.secret"
	"$build/gateway/xgw-broker" -k "$t/broker.secret" -j "$XMPP_COMPONENT" \
		-p "$XMPP_COMPONENT_PORT" -d "$t/registry.db" -f "$t/flows" >"$t/broker.log" 2>&1 &
	pids+=($!)
	report_proc xgw-broker $!
}

flows_active() { [ "$(status a | grep -c '^flow .* active')" -eq "$1" ]; }

bench_registered() {
	local g
	for g in a b; do
		wait_for 20 grep -q "broker: registered" "$t/$g.log" ||
			die "gateway $g did not register with the broker: $(tail -3 "$t/broker.log")"
	done
	wait_for 10 flows_active "$1" || die "gateway A does not hold the $1 active flows"
}

report_gateways() {
	local g pid ad
	for g in a b; do
		eval "pid=\$pid_$g"
		ad=$(pgrep -P "$pid" "$1") || die "gateway $g has no $1"
		report_proc "xgwd-${g^}" "$pid"
		report_proc "$1-${g^}" "$ad"
	done
}

bench_echo() {
	"$build/tests/bench/xmpprelay" -s 127.0.0.1 -p "$XMPP_COMPONENT_PORT" -j "$relay_jid" \
		-k "$t/relay.secret" >"$t/relay.out" 2>&1 &
	pids+=($!)
	report_proc xmpprelay $!
	wait_for 20 grep -q '^ready' "$t/relay.out" || die "relay: $(cat "$t/relay.out")"
	[ $# -gt 0 ] || return 0
	"$build/tests/bench/xmppecho" recv -s 127.0.0.1 -p "$XMPP_STARTTLS_PORT" -a "$CA" \
		-j echo2@localhost -k echo2-secret "$@" >"$t/echo.out" 2>&1 &
	pids+=($!)
	report_proc echo-recv $!
	wait_for 20 grep -q '^ready' "$t/echo.out" || die "echo receiver: $(cat "$t/echo.out")"
}

echo_send() {
	"$build/tests/bench/xmppecho" send -s 127.0.0.1 -p "$XMPP_STARTTLS_PORT" -a "$CA" \
		-j echo1@localhost -k echo1-secret -t "echo2%localhost@$relay_jid" "$@"
}

report_proc() { procs+="$1:$2 "; }

ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
snapshot() { for np in $procs; do echo "${np%%:*} $(ticks "${np#*:}")"; done; }
hwm_all() { for np in $procs; do echo "${np%%:*} $(hwm "${np#*:}")"; done; }

# Appends "KIND CONFIG per-s p50 p99 errors" to results, the CPU ticks of
# each process to cpu, and "wall KIND CONFIG seconds exchanges" to walls.
measure() {
	local kind=$1 config=$2 out before t0
	shift 2
	before=$(snapshot)
	t0=$(date +%s%N)
	out=$("$@" 2>&1) || die "$kind $config: $out"
	echo "wall $kind $config $(($(date +%s%N) - t0)) $((count + warmup))" |
		awk '{ print $1, $2, $3, $4 / 1e9, $5 }' >>"$t/walls"
	join <(echo "$before" | sort) <(snapshot | sort) |
		awk -v k="$kind" -v c="$config" '{ print k, c, $1, $3 - $2 }' >>"$t/cpu"
	echo "$out" | awk -v k="$kind" -v c="$config" '/^transactions=/ {
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		print k, c, v["tps"], v["p50_us"], v["p99_us"], v["errors"] }' >>"$t/results"
	grep -q "^$kind $config " "$t/results" || die "$kind $config printed no figures: $out"
	echo "${0##*/}: $kind $config: ${out//$'\n'/; }" >&2
}

med() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
fig() { awk -v k="$1" -v c="$2" -v f="$3" '$1 == k && $2 == c { print $f }' "$t/results" | med; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f%%", (b > 0 ? 100 * a / b : 0) }'; }
errors_total() { awk '{ s += $6 } END { print s + 0 }' "$t/results"; }

cpu_table() {
	local k np hz
	hz=$(getconf CLK_TCK) || die "getconf CLK_TCK failed"
	echo "CPU over all runs of a kind (warm-up included): % of one CPU, and us per exchange"
	printf '%-14s' process
	for k in "$@"; do printf ' | %17s' "$k"; done
	echo
	for np in $procs; do
		printf '%-14s' "${np%%:*}"
		for k in "$@"; do
			awk -v k="$k" -v n="${np%%:*}" -v hz="$hz" \
				'BEGIN { split(k, kc, " ") }
				 $1 == "wall" && $2 == kc[1] && (kc[2] == "" || $3 == kc[2]) { w += $4; x += $5 }
				 $1 == kc[1] && (kc[2] == "" || $2 == kc[2]) && $3 == n { s += $4 / hz }
				 END { printf " | %7.1f%% %7.1fus", w ? 100 * s / w : 0, x ? 1e6 * s / x : 0 }' \
				"$t/cpu" "$t/walls"
		done
		echo
	done
}

rss_table() {
	echo "Peak RSS (VmHWM, KiB) after start and at the end"
	printf '%-14s %8s %8s\n' process start end
	join <(sort "$t/hwm.start") <(hwm_all | sort) |
		while read -r n s e; do printf '%-14s %8s %8s\n' "$n" "$s" "$e"; done
}
