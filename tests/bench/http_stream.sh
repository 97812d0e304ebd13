#!/bin/bash
# Streamed HTTP bodies through the whole path, and the memory they take:
#
#   curl -> xgw-http A -> xgwd A -> Prosody (STARTTLS) -> xgwd B
#     -> xgw-http B -> devsim.py
#
# A download of BENCH_MIB MiB (50) with Content-Length (GET /dev/gen) and
# an upload of as much (PUT /dev/sink, which answers the body's SHA-256),
# BENCH_RUNS times (3) each, both checked byte for byte; then the same
# download straight from the device simulator for comparison.  Reports
# MB/s per run and their median, and the peak RSS (VmHWM) of each xgwd and
# each xgw-http after start and at the end: the adapters hold at most a
# window of parts per stream (adapters/http/README.md), whatever the size.
#
#   tests/bench/http_stream.sh [BUILD-DIR]
set -u
. "$(dirname "$0")/lib.sh"
bench_env http_stream 1 0 gateway/xgwd gateway/xgwctl adapters/http/xgw-http
mib=${BENCH_MIB:-50}
bench_numbers "$mib"

prosody_tune() { bench_prosody; }
. "$top/tests/e2e-http/http2gw.sh" "$build/gateway/xgwd" "$build/gateway/xgwctl" \
	"$build/adapters/http/xgw-http" "$top"

# the test's devices have 1 s to begin an answer: a cold device simulator
# building 50 MiB may take longer
kill "$pid_b"
wait "$pid_b" 2>/dev/null
sed -i 's/ timeout 1s$/ timeout 10s/' "$t/b.conf"
gateways_up b

n=$((mib * 1024 * 1024))
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
adapter_of() { pgrep -P "$1" -f xgw-http | head -1; }
ha=$(adapter_of "$pid_a") hb=$(adapter_of "$pid_b")
start_rss="xgwd-a $(hwm "$pid_a") xgw-http-a $(hwm "$ha") xgwd-b $(hwm "$pid_b") xgw-http-b $(hwm "$hb")"
want=$("$py" -c "import sys, hashlib; sys.path.insert(0, '$top/tests/e2e-http')
from devsim import gen_body; print(hashlib.sha256(gen_body($n)).hexdigest())")
head -c "$n" /dev/urandom >"$t/up.bin"
up_sha=$(sha256sum <"$t/up.bin" | cut -d' ' -f1)

# one transfer: its MB/s, after checking what arrived
run() {
	local kind=$1 url=$2 out secs
	if [ "$kind" = up ]; then
		secs=$(curl -s -o "$t/out" -w '%{time_total}' -T "$t/up.bin" "$url") || die "upload failed"
		[ "$(cat "$t/out")" = "$up_sha $n" ] || die "upload: the device read otherwise: $(head -c 100 "$t/out")"
	else
		secs=$(curl -s -o "$t/out" -w '%{time_total}' "$url") || die "download failed"
		[ "$(sha256sum <"$t/out" | cut -d' ' -f1)" = "$want" ] || die "download: not the device's bytes"
	fi
	"$py" -c "print('%.1f' % ($n / 1e6 / $secs))"
}
median() { tr ' ' '\n' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

for kind in down up direct; do
	case $kind in
	down) url="http://127.0.0.1:$gw_port/dev/gen?n=$n&mode=cl" ;;
	up) url="http://127.0.0.1:$gw_port/dev/sink" ;;
	direct) url="http://127.0.0.1:$dev_port/dev/gen?n=$n&mode=cl" ;;
	esac
	figs=""
	for _ in $(seq "$runs"); do
		figs="$figs $(run "${kind/direct/down}" "$url")"
	done
	printf '%-28s MB/s:%s  median %s\n' "$kind ($mib MiB)" "$figs" "$(echo $figs | median)"
done
echo "peak RSS (kB) after start:  $start_rss"
echo "peak RSS (kB) at the end:   xgwd-a $(hwm "$pid_a") xgw-http-a $(hwm "$ha") xgwd-b $(hwm "$pid_b") xgw-http-b $(hwm "$hb")"
