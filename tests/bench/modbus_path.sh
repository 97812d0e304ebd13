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
# daemon, keep the data), BENCH_SYSCALLS=N (count each daemon's system
# calls in one more path run with N clients under strace -c: a figure
# the machine's noise does not move).
#
# The start-up, the runs and the tables of CPU are lib.sh's, as for
# http_path.sh and mqtt_path.sh; the memory sample and the targets are this
# benchmark's own.
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
. "$(dirname "$0")/lib.sh"
bench_env modbus_path 5000 200 gateway/xgwd gateway/xgwctl gateway/xgw-broker \
	adapters/modbus/xgw-modbus tests/e2e-modbus/plcsim tests/bench/mbload \
	tests/bench/xmppecho tests/bench/xmpprelay
clients=${BENCH_CLIENTS:-1 8 64}
qty=${BENCH_QTY:-10}
units=${BENCH_UNITS:-64}
perf_clients=${BENCH_PERF:-}
sys_clients=${BENCH_SYSCALLS:-}
bench_numbers "$qty" "$units" $clients $perf_clients $sys_clients
[ "$units" -ge 1 ] && [ "$units" -le 64 ] ||
	{ echo "modbus_path: BENCH_UNITS must be 1..64 (routes and devices a gateway holds)" >&2; exit 1; }
xgwd=$build/gateway/xgwd xgwctl=$build/gateway/xgwctl
mbload=$build/tests/bench/mbload
src=$top
. "$top/tests/e2e/lib.sh"
test_setup modbus_path a.log b.log
prosody_start
bench_prosody
report_proc prosody "$(cat "$t/xmpp/prosody.pid")"

# shellcheck disable=SC2046
set -- $(free_ports 2)
plc_port=$1 gw_port=$2
"$build/tests/e2e-modbus/plcsim" -p "$plc_port" -l /dev/null 2>"$t/plcsim.err" &
pids+=($!)
report_proc plcsim $!
wait_for 10 listening "$plc_port" || die "plcsim does not listen: $(cat "$t/plcsim.err")"

# Gateway A routes unit N to device N; gateway B serves device N at plcsim;
# the broker binds each gateway to its user and activates one flow a device.
adapter_dir xgw-modbus="$build/adapters/modbus/xgw-modbus"
GA=urn:uuid:a0000000-0000-4000-8000-00000000000a
GB=urn:uuid:b0000000-0000-4000-8000-00000000000b
client=$(endpoint_uuid "$GA" modbus) || die "cannot derive the client's UUID"
routes="" devices="" flows=()
for n in $(seq "$units"); do
	d=$(printf 'urn:uuid:%08x-1111-4111-8111-%012x' "$n" "$n")
	routes+="	route \"unit $n\" to $d
"
	devices+="	device $d host 127.0.0.1 port $plc_port unit $n timeout 1s
"
	flows+=("$n $client $d modbus request")
done
bench_broker "$GA" "$GB" "${flows[@]}"
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
gateways_up b a
bench_registered "$units"
wait_for 10 listening "$gw_port" || die "gateway A's Modbus listener is not up"
report_gateways xgw-modbus
bench_echo -q "$qty"

# where the resident memory is now: heap and stacks, mapped files (libraries), shared
rss_split() { awk '/^Rss(Anon|File|Shmem):/ { printf " %s", $2 }' "/proc/$1/status"; }
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
hwm_all >"$t/hwm.start"

# One run (lib.sh's measure); the path run with the most clients also
# samples the memory half a second in.
run_kind() {
	local kind=$1 c=$2 sampler load
	[ "$kind $c" = "path $maxc" ] && { sleep 0.5; mem_sample >"$t/mem.new"; } &
	sampler=$!
	load=("$mbload" -c "$c" -n "$count" -w "$warmup" -u "$units" -q "$qty")
	case $kind in
	direct) measure direct "$c" "${load[@]}" -p "$plc_port" ;;
	path) measure path "$c" "${load[@]}" -p "$gw_port" ;;
	echo) measure echo "$c" echo_send -q "$qty" -c "$c" -n "$count" -w "$warmup" ;;
	esac
	wait "$sampler"
	[ -s "$t/mem.new" ] && mv "$t/mem.new" "$t/mem"
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for _ in $(seq "$runs"); do
	for c in $clients; do
		for kind in direct path echo; do run_kind "$kind" "$c"; done
	done
done
for np in $procs; do echo "${np%%:*} $(hwm "${np#*:}")$(rss_split "${np#*:}")"; done >"$t/hwm.end"

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
	printf '%7s | %9.0f %9.0f %9.0f | %9s %11s | %17s %17s %17s\n' "$c" "$d" "$p" "$e" \
		"$(pct "$p" "$e")" "$(pct "$p" "$d")" "$(lat direct)" "$(lat path)" "$(lat echo)"
	awk -v p="$p" -v e="$e" 'BEGIN { exit !(p >= 0.9 * e) }' || met=0
done

echo
kinds=()
for c in $clients; do kinds+=("path $c"); done
for c in $clients; do kinds+=("echo $c"); done
cpu_table "${kinds[@]}"
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

# One more path run with c clients and a tool attached to every daemon:
# attached CMD... -p PID, output in $tool_dir/NAME; the run's kind is "c".
attached() {
	local c=$1 np tools=()
	shift
	# kept after the run: $t goes when the benchmark succeeds
	tool_dir=$(mktemp -d /tmp/xgw-bench-tool.XXXXXX)
	for np in $procs; do
		case ${np%%:*} in echo-recv | plcsim | xmpprelay) continue ;; esac
		"$@" -o "$tool_dir/${np%%:*}" -p "${np#*:}" >/dev/null 2>&1 &
		tools+=($!)
	done
	sleep 1
	run_kind path "$c"
	kill -INT "${tools[@]}"
	wait "${tools[@]}"
}

if [ -n "$perf_clients" ]; then
	command -v perf >/dev/null || die "BENCH_PERF is set but perf is not installed"
	attached "$perf_clients" perf record -g -q
	for np in $procs; do
		n=${np%%:*}
		[ -s "$tool_dir/$n" ] || continue
		echo
		echo "perf: $n, path c=$perf_clients, top symbols (self)"
		perf report -i "$tool_dir/$n" --stdio --no-children --sort dso,symbol -g none \
			--percent-limit 2 2>/dev/null | grep -E '^ +[0-9]' | head -15
	done
	echo "perf data kept in $tool_dir"
fi
if [ -n "$sys_clients" ]; then
	command -v strace >/dev/null || die "BENCH_SYSCALLS is set but strace is not installed"
	attached "$sys_clients" strace -c -f
	echo
	echo "System calls per exchange, path c=$sys_clients under strace (warm-up included), the four most frequent"
	for np in $procs; do
		n=${np%%:*}
		[ -s "$tool_dir/$n" ] || continue
		awk -v n="$n" -v x=$((count + warmup)) '
		/^ *[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+/ && $NF != "total" { c[$NF] = $4; tot += $4 }
		END {
			printf "%-14s %6.1f |", n, tot / x
			k = 0
			while (k < 4) {
				m = ""; for (s in c) if (m == "" || c[s] > c[m]) m = s
				if (m == "") break
				printf " %s %.1f", m, c[m] / x; delete c[m]; k++
			}
			print ""
		}' "$tool_dir/$n"
	done
	rm -rf "$tool_dir"
fi
errors=$(errors_total)
[ "$errors" -eq 0 ] || die "$errors transactions answered wrongly (an exception or wrong data)"
