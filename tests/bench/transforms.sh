#!/bin/sh
# Throughput of the transforms over the capture corpus, against tshark
# decoding the same captures to PDML in the same run, on one core.
#
#   tests/bench/transforms.sh [BUILD-DIR] [RUNS]
#
# For each protocol: the median wall time of RUNS runs, over all of its
# captures, of
#   xgw-replay --check-element  (read, reassemble, decode, encode, compare)
#   xgw-replay --check          (the same with element -> XML text ->
#                                element in between, as the link does)
#   tshark -T pdml              (read, reassemble, dissect, print)
# reported as PDUs/s, MB/s of PDU bytes and the ratios to tshark, plus the
# peak RSS of xgw-replay on the largest capture.  Process start-up is in
# those figures (tshark's is large).  "xform pdu/s" is the transforms alone:
# the time xgw-replay --timing measures inside decode and encode, median of
# the runs.  Machines are noisy: trust the ratios.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
runs=${2:-5}
pcaps=${XGW_PCAPS:-$top/../shared/pcaps}
replay=$build/gateway/xgw-replay
one="taskset -c 0"
command -v taskset >/dev/null || one=""

now() { date +%s%N; }

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# decode-as arguments for captures on ports tshark and xgw do not map by default
args_for() {
	f=$(basename "$1")
	a=$(awk -F'\t' -v f="$f" '$1 == f { print $2 }' "$top/tests/corpus/$2.args" 2>/dev/null || true)
	echo "$a"
}

tshark_args_for() {
	echo "$1" | sed -n 's/--map \([0-9]*\)=\([a-z]*\)/\1 \2/gp' | while read -r port proto; do
		case $proto in
		modbus) printf -- '-d tcp.port==%s,mbtcp ' "$port" ;;
		mqtt) printf -- '-d tcp.port==%s,mqtt ' "$port" ;;
		http) printf -- '-d tcp.port==%s,http ' "$port" ;;
		coap) printf -- '-d udp.port==%s,coap ' "$port" ;;
		esac
	done
}

printf '%-7s %7s %12s %9s %12s %12s %12s %9s %9s %9s %8s\n' protocol pdus "xform pdu/s" "elem pdu/s" "elem MB/s" "text pdu/s" "tshark pdu/s" "xform/ts" "elem/ts" "text/ts" "rss KiB"
for proto in modbus coap mqtt http; do
	files=$(ls "$pcaps/$proto"/*.pcap* 2>/dev/null) || continue
	pdus=0 bytes=0 largest="" lsize=0
	for f in $files; do
		a=$(args_for "$f" "$proto")
		# shellcheck disable=SC2086
		line=$("$replay" --summary-tsv $a "$f" || true)
		pdus=$((pdus + $(echo "$line" | sed -n 's/.*pdus=\([0-9]*\).*/\1/p')))
		s=$(stat -c %s "$f")
		[ "$s" -gt "$lsize" ] && { lsize=$s; largest=$f; }
	done
	bytes=$("$replay" $(for f in $files; do args_for "$f" "$proto"; done | tr '\n' ' ') $files 2>/dev/null |
	    sed -n 's/.*bytes: \([0-9]*\) in pdus.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	time_replay() {
		for i in $(seq "$runs"); do
			t0=$(now)
			for f in $files; do
				a=$(args_for "$f" "$proto")
				# shellcheck disable=SC2086
				$one "$replay" "$1" $a "$f" >/dev/null || true
			done
			echo $(( $(now) - t0 ))
		done | median
	}
	xform=$(for i in $(seq "$runs"); do
		for f in $files; do
			a=$(args_for "$f" "$proto")
			# shellcheck disable=SC2086
			$one "$replay" --check-element --timing $a "$f" 2>/dev/null |
			    sed -n 's/.*transforms: \([0-9]*\) ns decoding, \([0-9]*\) ns encoding/\1 \2/p'
		done | awk '{ s += $1 + $2 } END { print s + 0 }'
	done | median)
	elem=$(time_replay --check-element)
	text=$(time_replay --check)
	ts=$(for i in $(seq "$runs"); do
		t0=$(now)
		for f in $files; do
			d=$(tshark_args_for "$(args_for "$f" "$proto")")
			# shellcheck disable=SC2086
			$one tshark -n -r "$f" $d -T pdml >/dev/null 2>&1 || true
		done
		echo $(( $(now) - t0 ))
	done | median)
	rss=$(/usr/bin/time -f %M "$replay" --check $(args_for "$largest" "$proto") "$largest" 2>&1 >/dev/null | tail -1)
	awk -v p="$proto" -v n="$pdus" -v b="$bytes" -v e="$elem" -v x="$text" -v t="$ts" -v r="$rss" -v f="$xform" 'BEGIN {
		er = n / (e / 1e9); xr = n / (x / 1e9); tr = n / (t / 1e9); fr = n / (f / 1e9)
		printf "%-7s %7d %12.0f %12.0f %9.2f %12.0f %12.0f %9.1f %9.1f %9.1f %8s\n", p, n, fr, er, b / (e / 1e9) / 1e6, xr, tr, fr / tr, er / tr, xr / tr, r
	}'
done
