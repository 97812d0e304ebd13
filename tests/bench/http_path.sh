#!/bin/bash
# HTTP/1.1 requests/s and latency through the whole path
#
#   mbload -P http -> xgw-http A -> xgwd A -> Prosody (STARTTLS)
#     -> xgw-broker -> Prosody -> xgwd B -> xgw-http B -> devsim.py
#
# against two baselines measured in the same run, on the same machine:
#   direct  the same clients straight to the device simulator
#   echo    two bare libstrophe c2s clients (xmppecho) through the same
#           Prosody and a bare relay component in the broker's place
#           (xmpprelay), exchanging the same request and response stanzas
#
#   tests/bench/http_path.sh [BUILD-DIR]
#
# Environment: BENCH_CLIENTS ("1 8 64" concurrent keep-alive connections,
# each with one request in flight), BENCH_COUNT (2000 requests a run),
# BENCH_WARMUP (100 unmeasured requests before each run), BENCH_RUNS (3;
# the table gives medians), BENCH_DEVICES (16: client i sends Host
# u(1 + i % DEVICES).bench, which gateway A routes to a device of its own
# at gateway B, all of them the one device simulator: B keeps one request
# on the wire and 16 queued per device, and answers 502 beyond that).
# Every answer must be devsim.py's, byte for byte (GET /dev/hello).
#
# The start-up is the HTTP end-to-end test's (tests/e2e-http/http2gw.sh,
# sourced: it stops once its gateways are up); Prosody logs at "info",
# and the gateways are then started again registered with xgw-broker,
# which relays one active request flow.  Reports the medians and the
# ratios path/echo and path/direct per client count, the CPU of each
# process per kind of run, and each process's peak RSS.  Exit 1 when a run
# fails or answers wrongly.  Machines are noisy: trust the ratios.
set -u
. "$(dirname "$0")/lib.sh"
bench_env http_path 2000 100 gateway/xgwd gateway/xgwctl gateway/xgw-broker \
	adapters/http/xgw-http tests/bench/mbload tests/bench/xmppecho tests/bench/xmpprelay
clients=${BENCH_CLIENTS:-1 8 64}
ndev=${BENCH_DEVICES:-16}
bench_numbers "$ndev" $clients
[ "$ndev" -ge 1 ] && [ "$ndev" -le 32 ] ||
	{ echo "http_path: BENCH_DEVICES must be 1..32 (routes and devices a gateway holds)" >&2; exit 1; }
mbload=$build/tests/bench/mbload

prosody_tune() { bench_prosody; }
. "$top/tests/e2e-http/http2gw.sh" "$build/gateway/xgwd" "$build/gateway/xgwctl" \
	"$build/adapters/http/xgw-http" "$top"
report_proc prosody "$(cat "$t/xmpp/prosody.pid")"

# The same gateways, now registered with the broker (their UUIDs were
# generated at the first start and are kept in their state-dirs), and with
# a route and a device for each Host the clients name.
port_free() { ! listening "$1"; }
for g in a b; do
	v=pid_$g
	kill "${!v}"
	wait "${!v}" 2>/dev/null
done
wait_for 10 port_free "$gw_port" || die "gateway A's HTTP listener outlived its xgwd"
sed -i "s|^\tbroker \".*\"|\tbroker \"$XMPP_COMPONENT\"|" "$t/a.conf" "$t/b.conf"
ga=$(cat "$t/a.state/gateway-uuid") && gb=$(cat "$t/b.state/gateway-uuid") ||
	die "a gateway kept no UUID"
[ "$(tail -1 "$t/a.conf")$(tail -1 "$t/b.conf")" = "}}" ] ||
	die "the gateways' configurations do not end with their adapter block"
sed -i '$d' "$t/a.conf" "$t/b.conf"
client=$(endpoint_uuid "$ga" http)
flows=()
for n in $(seq "$ndev"); do
	u=$(printf 'urn:uuid:%08x-2222-4222-8222-%012x' "$n" "$n")
	printf '\troute "/dev" host "u%s.bench" to %s\n' "$n" "$u" >>"$t/a.conf"
	printf '\tdevice %s host 127.0.0.1 port %s timeout 1s\n' "$u" "$dev_port" >>"$t/b.conf"
	flows+=("$n $client $u http request")
done
echo "}" | tee -a "$t/a.conf" >>"$t/b.conf"
bench_broker "$ga" "$gb" "${flows[@]}"
gateways_up b a
bench_registered "$ndev"
wait_for 10 listening "$gw_port" || die "gateway A's HTTP listener is not up"
report_gateways xgw-http
dev=$(pgrep -f "devsim.py $dev_port ") || die "no devsim on port $dev_port"
report_proc devsim "$dev"
bench_echo -P http
hwm_all >"$t/hwm.start"

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for _ in $(seq "$runs"); do
	for c in $clients; do
		load=("$mbload" -P http -c "$c" -n "$count" -w "$warmup" -u "$ndev")
		measure direct "$c" "${load[@]}" -p "$dev_port"
		measure path "$c" "${load[@]}" -p "$gw_port"
		measure echo "$c" echo_send -P http -c "$c" -n "$count" -w "$warmup"
	done
done

echo
echo "HTTP GET /dev/hello, keep-alive, $ndev devices at B; $count requests a run after $warmup warm-up; median of $runs runs;"
echo "load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work on the machine)"
echo "Prosody $(dpkg-query -W -f '${Version}' prosody 2>/dev/null) STARTTLS; $(nproc) CPUs"
printf '%7s | %9s %9s %9s | %9s %11s | %17s %17s %17s\n' clients "direct/s" "path/s" "echo/s" \
	path/echo path/direct "direct p50/p99 us" "path p50/p99 us" "echo p50/p99 us"
for c in $clients; do
	d=$(fig direct "$c" 3) p=$(fig path "$c" 3) e=$(fig echo "$c" 3)
	lat() { printf '%s/%s' "$(fig "$1" "$c" 4)" "$(fig "$1" "$c" 5)"; }
	printf '%7s | %9.0f %9.0f %9.0f | %9s %11s | %17s %17s %17s\n' "$c" "$d" "$p" "$e" \
		"$(pct "$p" "$e")" "$(pct "$p" "$d")" "$(lat direct)" "$(lat path)" "$(lat echo)"
done
echo
cpu_table direct path echo
echo
rss_table
errors=$(errors_total)
[ "$errors" -eq 0 ] || die "$errors requests answered wrongly (above)"
