#!/bin/bash
# Modbus/TCP transactions/s and latency through the whole path
#
#   mbload -> xgw-modbus A -> xgwd A -> Prosody (STARTTLS) -> xgw-broker
#     -> Prosody -> xgwd B -> xgw-modbus B -> plcsim
#
# against two baselines measured in the same run, on the same machine:
#   direct  the same clients straight to plcsim
#   echo    two bare libstrophe c2s clients (xmppecho) through the same
#           Prosody and a bare relay component in the broker's place
#           (xmpprelay), exchanging the same request and response
#           stanzas: the XMPP route with no adapter, no translation, no
#           registry, no policy
#
#   tests/bench/modbus_path.sh [BUILD-DIR]
#
# Environment: BENCH_CLIENTS ("1 8 64"), BENCH_COUNT (5000 transactions
# per run), BENCH_RUNS (3; the table gives medians), BENCH_WARMUP (200
# unmeasured transactions before each run), BENCH_QTY (10 registers a
# read), BENCH_UNITS (64: client i asks unit 1 + i % UNITS, each unit a
# device of its own at gateway B, which keeps one connection and one
# request in flight per device), BENCH_PERF=N (profile one more path run
# with N clients with perf record -g, print the top symbols of each
# daemon, keep the data), BENCH_NAGLE=1 (leave Prosody's Nagle
# algorithm on, its default and the e2e tests' setting).
#
# Reports the medians and the ratios path/echo and path/direct per client
# count; CPU of each process over the path runs (utime+stime from
# /proc/PID/stat) and of Prosody and the relay over the echo runs; the
# peak RSS (VmHWM) of each process at the start and at the end; RSS, PSS
# and USS (/proc/PID/smaps_rollup) half a second into the path run with
# the most clients, and where those pages are (the program and our
# libraries, heap, other anonymous memory, stacks, shared libraries); and
# the issue's targets: path >= 90 % of echo, xgwd <= 8 MiB and each
# adapter <= 4 MiB (VmHWM).  Prosody
# logs at "info" here, not "debug" as in the e2e tests: a benchmark of
# the debug log measures the disk.  Exit 1 when a run fails or answers
# wrongly; a target missed is reported, not an error.  Machines are
# noisy: trust the ratios.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(readlink -f "${1:-$top/build}")
clients=${BENCH_CLIENTS:-1 8 64}
count=${BENCH_COUNT:-5000}
runs=${BENCH_RUNS:-3}
warmup=${BENCH_WARMUP:-200}
qty=${BENCH_QTY:-10}
units=${BENCH_UNITS:-64}
xgwd=$build/gateway/xgwd xgwctl=$build/gateway/xgwctl
adapter=$build/adapters/modbus/xgw-modbus plcsim=$build/tests/e2e-modbus/plcsim
broker=$build/gateway/xgw-broker
mbload=$build/tests/bench/mbload xmppecho=$build/tests/bench/xmppecho
xmpprelay=$build/tests/bench/xmpprelay
. "$top/tests/e2e/lib.sh"
t=$(mktemp -d /tmp/xgw-bench-modbus.XXXXXX)
pids=()
fail=0
perf_clients=${BENCH_PERF:-}

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$top/tests/e2e/prosody.sh" stop "$t/xmpp" >/dev/null 2>&1
	if [ $fail -eq 0 ] && [ -z "$perf_clients" ]; then rm -rf "$t"; else echo "modbus_path: files kept in $t" >&2; fi
}
trap cleanup EXIT

die() {
	echo "modbus_path: FAIL: $*" >&2
	for g in a b; do
		[ -f "$t/$g.log" ] && { echo "--- $g.log (tail)" >&2; tail -15 "$t/$g.log" >&2; }
	done
	fail=1
	exit 1
}
link_up() { "$xgwctl" status -s "$t/$1.sock" | grep -q '^link up'; }

for p in "$xgwd" "$xgwctl" "$adapter" "$broker" "$plcsim" "$mbload" "$xmppecho" "$xmpprelay"; do
	[ -x "$p" ] || die "$p is not built (ninja -C $build)"
done
for n in "$count" "$runs" "$warmup" "$qty" "$units" $clients $perf_clients; do
	case $n in '' | *[!0-9]*) die "'$n' is not a number (BENCH_* variables)" ;; esac
done
[ "$units" -ge 1 ] && [ "$units" -le 64 ] || die "BENCH_UNITS must be 1..64 (routes and devices a gateway holds)"
hz=$(getconf CLK_TCK) || die "getconf CLK_TCK failed"

# Prosody, logging at info, without Nagle's algorithm (as xgwd's link: with
# it, every answer waits for the peer's delayed ACK, about 40 ms, path and
# echo alike), two more users and the relay component for the echo.
"$top/tests/e2e/prosody.sh" start "$t/xmpp" >"$t/prosody.out" 2>&1 ||
	die "Prosody did not start: $(tail -5 "$t/prosody.out")"
. "$t/xmpp/env"
sed -i 's/^log = { debug = /log = { info = /' "$t/xmpp/prosody.cfg.lua"
[ "${BENCH_NAGLE:-0}" = 1 ] || sed -i '/^log = /a network_settings = { nagle = false }' "$t/xmpp/prosody.cfg.lua"
grep -q '^log = { info = ' "$t/xmpp/prosody.cfg.lua" || die "cannot set Prosody's log level"
relay_jid=relay.localhost
printf '\nComponent "%s"\n\tcomponent_secret = "relay-secret"\n' "$relay_jid" >>"$t/xmpp/prosody.cfg.lua"
echo relay-secret >"$t/relay.secret"
echo "$XMPP_COMPONENT_SECRET" >"$t/broker.secret"
for u in echo1 echo2; do
	prosodyctl --config "$t/xmpp/prosody.cfg.lua" register "$u" localhost "$u-secret" \
		>>"$t/prosodyctl.log" 2>&1 || die "prosodyctl register $u: $(tail -3 "$t/prosodyctl.log")"
done
"$top/tests/e2e/prosody.sh" restart "$t/xmpp" >>"$t/prosody.out" 2>&1 ||
	die "Prosody did not restart: $(tail -5 "$t/prosody.out")"
pid_prosody=$(cat "$t/xmpp/prosody.pid")

# shellcheck disable=SC2046
set -- $(free_ports 2)
plc_port=$1 gw_port=$2
"$plcsim" -p "$plc_port" -l /dev/null 2>"$t/plcsim.err" &
pid_plcsim=$!
pids+=($!)
wait_for 10 listening "$plc_port" || die "plcsim does not listen: $(cat "$t/plcsim.err")"

# Gateway A routes unit N to device N; gateway B serves device N at plcsim;
# the broker binds each gateway to its user and activates one flow a device.
mkdir -p "$t/adapters"
ln -s "$adapter" "$t/adapters/xgw-modbus"
export XGW_ADAPTER_DIR=$t/adapters
GA=urn:uuid:a0000000-0000-4000-8000-00000000000a
GB=urn:uuid:b0000000-0000-4000-8000-00000000000b
# gateway A's client side speaks as a UUID derived from A's own
client=urn:uuid:$("$py" -c "import uuid; print(uuid.uuid5(uuid.UUID('57fe6229-08f5-4728-84b3-cc97fe9d4629'), '$GA/modbus'))") ||
	die "cannot derive the client's UUID"
printf 'bind %s %s\nbind %s %s\n' "$GA" "$USER1_JID" "$GB" "$USER2_JID" >"$t/flows"
routes="" devices=""
for n in $(seq "$units"); do
	d=$(printf 'urn:uuid:%08x-1111-4111-8111-%012x' "$n" "$n")
	routes+="	route \"unit $n\" to $d
"
	devices+="	device $d host 127.0.0.1 port $plc_port unit $n timeout 1s
"
	echo "flow $n $client $d modbus request" >>"$t/flows"
done
"$broker" -k "$t/broker.secret" -j "$XMPP_COMPONENT" -p "$XMPP_COMPONENT_PORT" \
	-d "$t/registry.db" -f "$t/flows" >"$t/broker.log" 2>&1 &
pid_broker=$!
pids+=($!)
cat >"$t/rules" <<EOF
reject with illegal-data-address request modbus function write-single-register address 7000:7999
pass request modbus
pass response modbus
EOF
gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" "$XMPP_COMPONENT" "$t/rules" "adapter modbus {
	listen 127.0.0.1 port $gw_port
	timeout 1500ms
$routes}"
gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" "$XMPP_COMPONENT" "$t/rules" "adapter modbus {
$devices}"
sed -i "1i gateway $GA" "$t/a.conf"
sed -i "1i gateway $GB" "$t/b.conf"
registered() { grep -q "broker: registered" "$t/$1.log"; }
flows_known() { [ "$("$xgwctl" status -s "$t/a.sock" | grep -c '^flow .* active')" -eq "$units" ]; }
for g in b a; do
	"$xgwd" -f "$t/$g.conf" >"$t/$g.log" 2>&1 &
	pids+=($!)
	eval "pid_$g=$!"
	wait_for 20 link_up $g || die "gateway $g: link not up"
	wait_for 20 registered $g || die "gateway $g did not register with the broker: $(tail -3 "$t/broker.log")"
done
wait_for 10 flows_known || die "gateway A does not hold the $units active flows"
wait_for 10 listening "$gw_port" || die "gateway A's Modbus listener is not up"
# shellcheck disable=SC2154
ad_a=$(pgrep -P "$pid_a" xgw-modbus) && ad_b=$(pgrep -P "$pid_b" xgw-modbus) ||
	die "an xgw-modbus process is missing"

"$xmpprelay" -s 127.0.0.1 -p "$XMPP_COMPONENT_PORT" -j "$relay_jid" -k "$t/relay.secret" \
	>"$t/relay.out" 2>&1 &
pid_relay=$!
pids+=($!)
wait_for 20 grep -q '^ready' "$t/relay.out" || die "relay: $(cat "$t/relay.out")"
common=(-s 127.0.0.1 -p "$XMPP_STARTTLS_PORT" -a "$CA" -q "$qty")
"$xmppecho" recv "${common[@]}" -j echo2@localhost -k echo2-secret >"$t/echo.out" 2>&1 &
pid_echo=$!
pids+=($!)
wait_for 20 grep -q '^ready' "$t/echo.out" || die "echo receiver: $(cat "$t/echo.out")"

# name:pid of every process whose CPU and memory are reported
procs="xgwd-A:$pid_a xgw-modbus-A:$ad_a xgwd-B:$pid_b xgw-modbus-B:$ad_b broker:$pid_broker prosody:$pid_prosody"
procs+=" relay:$pid_relay plcsim:$pid_plcsim echo-recv:$pid_echo"

ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
# where the resident memory is now: heap and stacks, mapped files (libraries), shared
rss_split() { awk '/^Rss(Anon|File|Shmem):/ { printf " %s", $2 }' "/proc/$1/status"; }
snapshot() { for np in $procs; do echo "${np%%:*} $(ticks "${np#*:}")"; done; }
# KiB resident, proportional (shared pages split among their users), unique
rollup() { awk '/^(Rss|Pss):/ { v[$1] = $2 } /^Private_(Clean|Dirty):/ { u += $2 }
	END { printf "%s %s %s", v["Rss:"], v["Pss:"], u }' "/proc/$1/smaps_rollup"; }
# Where the resident KiB are (pmap -X's view, summed): the program file and
# our libraries; [heap]; other anonymous memory (malloc's mmaps and arenas,
# the .bss); stacks; other libraries, the three largest named.
rss_where() {
	awk -v exe="$(readlink "/proc/$1/exe")" '
	/^[0-9a-f]+-[0-9a-f]+ / { name = NF >= 6 ? $6 : ""; next }
	/^Rss:/ {
		if (name == exe || name ~ /libxgw/) k = "ours"
		else if (name == "[heap]") k = "heap"
		else if (name == "") k = "anon"
		else if (name ~ /^\[stack/) k = "stack"
		else if (name ~ /^\[/) k = "kernel"
		else { sub(/^.*\//, "", name); lib[name] += $2; k = "libs" }
		r[k] += $2
	}
	END {
		n = 0
		for (l in lib) top[++n] = lib[l] " " l
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
			if (top[j] + 0 > top[i] + 0) { x = top[i]; top[i] = top[j]; top[j] = x }
		printf "%s %s %s %s %s", r["ours"] + 0, r["heap"] + 0, r["anon"] + 0, r["stack"] + 0, r["libs"] + 0
		for (i = 1; i <= 3 && i <= n; i++) { split(top[i], f, " "); printf " %s:%s", f[2], f[1] }
	}' "/proc/$1/smaps"
}
mem_sample() { for np in $procs; do echo "${np%%:*} $(rollup "${np#*:}") $(rss_where "${np#*:}")"; done; }
maxc=$(printf '%s\n' $clients | sort -n | tail -1)
for np in $procs; do echo "${np%%:*} $(hwm "${np#*:}")"; done >"$t/hwm.start"

# One run: appends "kind clients tps p50 p99 errors" to results, and the
# CPU ticks each process spent to cpu ("kind clients name ticks").
measure() {
	local kind=$1 c=$2 out before t0
	before=$(snapshot)
	t0=$(date +%s%N)
	[ "$kind $c" = "path $maxc" ] && { sleep 0.5; mem_sample >"$t/mem.new"; } &
	sampler=$!
	case $kind in
	direct) out=$("$mbload" -p "$plc_port" -c "$c" -n "$count" -w "$warmup" -u "$units" -q "$qty" 2>&1) ;;
	path) out=$("$mbload" -p "$gw_port" -c "$c" -n "$count" -w "$warmup" -u "$units" -q "$qty" 2>&1) ;;
	echo) out=$("$xmppecho" send "${common[@]}" -j echo1@localhost -k echo1-secret \
		-t "echo2%localhost@$relay_jid" -c "$c" -n "$count" -w "$warmup" 2>&1) ;;
	esac || die "$kind run with $c clients: $out"
	wait "$sampler"
	[ -s "$t/mem.new" ] && mv "$t/mem.new" "$t/mem"
	echo "wall $kind $c $(($(date +%s%N) - t0))" | awk '{ print $1, $2, $3, $4 / 1e9 }' >>"$t/walls"
	join <(echo "$before" | sort) <(snapshot | sort) |
		awk -v k="$kind" -v c="$c" '{ print k, c, $1, $3 - $2 }' >>"$t/cpu"
	echo "$out" | awk -v k="$kind" -v c="$c" '/^transactions=/ {
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		print k, c, v["tps"], v["p50_us"], v["p99_us"], v["errors"] }' >>"$t/results"
	grep -q "^$kind $c " "$t/results" || die "$kind run with $c clients printed no figures: $out"
	echo "modbus_path: $kind c=$c: ${out##*$'\n'}" >&2
}

: >"$t/results"
: >"$t/cpu"
: >"$t/walls"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for _ in $(seq "$runs"); do
	for c in $clients; do
		for kind in direct path echo; do measure "$kind" "$c"; done
	done
done
for np in $procs; do echo "${np%%:*} $(hwm "${np#*:}")$(rss_split "${np#*:}")"; done >"$t/hwm.end"

med() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
fig() { awk -v k="$1" -v c="$2" -v f="$3" '$1 == k && $2 == c { print $f }' "$t/results" | med; }

echo
echo "Modbus fc 3 x $qty registers; $count transactions a run after $warmup warm-up, median of $runs runs;"
echo "load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work on the machine)"
echo "$units devices at B; Prosody $(dpkg-query -W -f '${Version}' prosody 2>/dev/null) STARTTLS; $(nproc) CPUs"
printf '%7s | %9s %9s %9s | %9s %11s | %17s %17s %17s\n' clients "direct/s" "path/s" "echo/s" \
	path/echo path/direct "direct p50/p99 us" "path p50/p99 us" "echo p50/p99 us"
met=1
for c in $clients; do
	d=$(fig direct "$c" 3) p=$(fig path "$c" 3) e=$(fig echo "$c" 3)
	lat() { printf '%s/%s' "$(fig "$1" "$c" 4)" "$(fig "$1" "$c" 5)"; }
	printf '%7s | %9.0f %9.0f %9.0f | %8.1f%% %10.1f%% | %17s %17s %17s\n' "$c" "$d" "$p" "$e" \
		"$(echo "$p $e" | awk '{ print 100 * $1 / $2 }')" "$(echo "$p $d" | awk '{ print 100 * $1 / $2 }')" \
		"$(lat direct)" "$(lat path)" "$(lat echo)"
	awk -v p="$p" -v e="$e" 'BEGIN { exit !(p >= 0.9 * e) }' || met=0
done

echo
echo "CPU over the runs (warm-up included): % of one CPU, and us per transaction"
printf '%-14s' process
for c in $clients; do printf ' | %15s' "path c=$c"; done
for c in $clients; do printf ' | %15s' "echo c=$c"; done
echo
for np in $procs; do
	n=${np%%:*}
	printf '%-14s' "$n"
	for kind in path echo; do
		for c in $clients; do
			awk -v k="$kind" -v c="$c" -v n="$n" -v hz="$hz" -v tx=$(((count + warmup) * runs)) \
				'$1 == "wall" && $2 == k && $3 == c { w += $4 }
				 $1 == k && $2 == c && $3 == n { s += $4 / hz }
				 END { printf " | %6.1f%% %6.1fus", w ? 100 * s / w : 0, 1e6 * s / tx }' "$t/cpu" "$t/walls"
		done
	done
	echo
done

echo
echo "Peak RSS (VmHWM, KiB) after start and at the end; the resident set at the end by kind"
mem_ok=1
printf '%-14s %8s %8s %8s | %8s %8s %8s\n' process start end limit anon file shmem
join "$t/hwm.start" "$t/hwm.end" | while read -r n s e an fl sh; do
	case $n in xgwd-*) lim=8192 ;; xgw-modbus-*) lim=4096 ;; *) lim=- ;; esac
	printf '%-14s %8s %8s %8s | %8s %8s %8s\n' "$n" "$s" "$e" "$lim" "$an" "$fl" "$sh"
done
echo
echo "Memory half a second into the last path run with $maxc clients (KiB; USS: pages of this process alone)"
printf '%-14s %6s %6s %6s | %6s %6s %6s %6s %6s  %s\n' process RSS PSS USS ours heap anon stack libs \
	"largest libraries"
[ -s "$t/mem" ] || die "no memory sample (the path run with $maxc clients ended within 0.5 s: raise BENCH_COUNT)"
while read -r n rss pss uss ours heap anon stack libs top; do
	printf '%-14s %6s %6s %6s | %6s %6s %6s %6s %6s  %s\n' "$n" "$rss" "$pss" "$uss" "$ours" "$heap" \
		"$anon" "$stack" "$libs" "$top"
done <"$t/mem"
while read -r n e _; do
	case $n in
	xgwd-*) [ "$e" -le 8192 ] || mem_ok=0 ;;
	xgw-modbus-*) [ "$e" -le 4096 ] || mem_ok=0 ;;
	esac
done <"$t/hwm.end"

echo
[ $met = 1 ] && echo "target path >= 90 % of echo: met at every client count" ||
	echo "target path >= 90 % of echo: NOT met (see path/echo)"
[ $mem_ok = 1 ] && echo "target xgwd <= 8 MiB, adapters <= 4 MiB: met" ||
	echo "target xgwd <= 8 MiB, adapters <= 4 MiB: NOT met (see VmHWM)"

if [ -n "$perf_clients" ]; then
	command -v perf >/dev/null || die "BENCH_PERF is set but perf is not installed"
	c=$perf_clients
	perfs=()
	for np in $procs; do
		case ${np%%:*} in echo-recv | plcsim) continue ;; esac
		perf record -g -q -o "$t/perf.${np%%:*}.data" -p "${np#*:}" >/dev/null 2>&1 &
		perfs+=($!)
	done
	sleep 1
	measure path "$c"
	kill -INT "${perfs[@]}"
	wait "${perfs[@]}"
	for np in $procs; do
		n=${np%%:*}
		[ -s "$t/perf.$n.data" ] || continue
		echo
		echo "perf: $n, path c=$c, top symbols (self)"
		perf report -i "$t/perf.$n.data" --stdio --no-children --sort dso,symbol -g none \
			--percent-limit 2 2>/dev/null | grep -E '^ +[0-9]' | head -15
	done
fi
errors=$(awk '{ s += $6 } END { print s + 0 }' "$t/results")
[ "$errors" -eq 0 ] || die "$errors transactions answered wrongly (an exception or wrong data)"
