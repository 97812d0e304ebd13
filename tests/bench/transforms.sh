#!/bin/sh
# Throughput of the transforms over the capture corpus, against tshark
# decoding the same captures to PDML in the same run, on one core.
#
#   tests/bench/transforms.sh [BUILD-DIR] [RUNS] [PROTOCOLS]
#
# For each protocol, medians of RUNS runs over all of its captures:
#   xform     the transforms alone: the time xgw-replay --timing measures
#             inside decode and encode
#   elem      xgw-replay --check-element (read, reassemble, decode, encode,
#             compare), one process over the corpus, as an operator runs it
#             (one process per distinct --map)
#   elem/file the same, one process per capture: start-up (~7 ms over an
#             empty program's 2 ms: libpcap's and libstrophe's libraries,
#             mapped and relocated, see gateway/README.md) counted 12 times
#   text      xgw-replay --check (element -> XML text -> element between,
#             as the link does), one process over the corpus
#   tshark    tshark -n -T pdml (read, reassemble, dissect, print), one
#             process per capture: it reads one file per run
#   big       elem and tshark on the largest capture alone, one process
#             each: the steady state, where start-up weighs least
# reported as PDUs/s and ratios to tshark, plus the peak RSS of
# xgw-replay --check on the largest capture.  Machines are noisy: trust the
# ratios, which come from the same run.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
runs=${2:-5}
protos=${3:-modbus coap mqtt http}
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

printf '%-7s %6s %9s %9s %9s %9s %9s %7s %7s %7s %7s %7s %7s %7s\n' protocol pdus "xform/s" "elem/s" "file/s" "text/s" "tshark/s" "xform" "elem" "file" "text" "big" "MB/s" "rssKiB"
for proto in $protos; do
	files=$(ls "$pcaps/$proto"/*.pcap* 2>/dev/null) || continue
	pdus=0 bytes=0 largest="" lsize=0
	list=$(mktemp)
	for f in $files; do
		a=$(args_for "$f" "$proto")
		printf '%s\t%s\t%s\n' "$f" "$a" "$(tshark_args_for "$a")" >>"$list"
		# shellcheck disable=SC2086
		line=$("$replay" --summary-tsv $a "$f" || true)
		pdus=$((pdus + $(echo "$line" | sed -n 's/.*pdus=\([0-9]*\).*/\1/p')))
		b=$("$replay" $a "$f" 2>/dev/null | sed -n 's/.*bytes: \([0-9]*\) in pdus.*/\1/p')
		bytes=$((bytes + ${b:-0}))
		s=$(stat -c %s "$f")
		[ "$s" -gt "$lsize" ] && { lsize=$s; largest=$f; }
	done
	largs=$(awk -F'\t' -v f="$largest" '$1 == f { print $2 }' "$list")
	# One process per set of captures sharing their --map arguments.
	one_process() {
		cut -f2 "$list" | sort -u | while IFS= read -r a; do
			# shellcheck disable=SC2046,SC2086
			$one "$replay" "$@" $a $(awk -F'\t' -v a="$a" '$2 == a { print $1 }' "$list") || true
		done
	}
	per_file() {
		while IFS="$(printf '\t')" read -r f a d; do
			# shellcheck disable=SC2086
			$one "$replay" "$@" $a "$f" >/dev/null || true
		done <"$list"
	}
	timed() {
		for i in $(seq "$runs"); do
			t0=$(now)
			"$@" >/dev/null 2>&1
			echo $(( $(now) - t0 ))
		done | median
	}
	tshark_each() {
		while IFS="$(printf '\t')" read -r f a d; do
			# shellcheck disable=SC2086
			$one tshark -n -r "$f" $d -T pdml >/dev/null 2>&1 || true
		done <"$list"
	}
	xform=$(for i in $(seq "$runs"); do
		one_process --check-element --timing 2>/dev/null |
		    sed -n 's/.*transforms: \([0-9]*\) ns decoding, \([0-9]*\) ns encoding/\1 \2/p' |
		    awk '{ s += $1 + $2 } END { print s + 0 }'
	done | median)
	elem=$(timed one_process --check-element)
	file=$(timed per_file --check-element)
	text=$(timed one_process --check)
	ts=$(timed tshark_each)
	# shellcheck disable=SC2086
	bige=$(timed $one "$replay" --check-element $largs "$largest")
	ld=$(awk -F'\t' -v f="$largest" '$1 == f { print $3 }' "$list")
	# shellcheck disable=SC2086
	bigt=$(timed $one tshark -n -r "$largest" $ld -T pdml)
	# shellcheck disable=SC2086
	rss=$(/usr/bin/time -f %M "$replay" --check $largs "$largest" 2>&1 >/dev/null | tail -1)
	rm -f "$list"
	awk -v p="$proto" -v n="$pdus" -v b="$bytes" -v f="$xform" -v e="$elem" -v F="$file" -v x="$text" \
	    -v t="$ts" -v be="$bige" -v bt="$bigt" -v r="$rss" 'BEGIN {
		tr = n / (t / 1e9)
		printf "%-7s %6d %9.0f %9.0f %9.0f %9.0f %9.0f %7.1f %7.1f %7.1f %7.1f %7.1f %7.2f %7s\n",
		    p, n, n / (f / 1e9), n / (e / 1e9), n / (F / 1e9), n / (x / 1e9), tr,
		    t / f, t / e, t / F, t / x, bt / be, b / (e / 1e9) / 1e6, r
	}'
done
echo "xform..big: xgw-replay's PDUs/s over tshark's (big: the largest capture alone); MB/s of PDU bytes, elem"
