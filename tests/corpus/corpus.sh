#!/bin/sh
# Runs xgw-replay --check over every capture of one protocol and compares
# the per-file summary (PDU kinds, decode errors by reason, bytes skipped)
# with the checked-in expectation.  Any round-trip mismatch fails outright.
#
#   corpus.sh REPLAY PCAPS PROTO EXPECT [--update]
set -u
replay=$1 pcaps=$2 proto=$3 expect=$4 update=${5:-}
dir=$pcaps/$proto
args=$(dirname "$expect")/$proto.args

if [ ! -d "$dir" ]; then
	echo "corpus: $dir is missing: the captures live in ../shared/pcaps beside the source tree (meson -Dpcaps=DIR)" >&2
	exit 1
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
for f in "$dir"/*.pcap "$dir"/*.pcapng; do
	[ -e "$f" ] || continue
	base=$(basename "$f")
	extra=""
	[ -f "$args" ] && extra=$(awk -F'\t' -v f="$base" '$1 == f { print $2 }' "$args")
	# shellcheck disable=SC2086
	"$replay" --check --summary-tsv $extra "$f" >>"$out"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "corpus: $base: xgw-replay exited $rc (round-trip mismatch or unreadable)" >&2
		"$replay" --check --verbose $extra "$f" 2>&1 >/dev/null | grep -v ': offset ' | head -20 >&2
		status=1
	fi
done
if [ "$update" = "--update" ]; then
	cp "$out" "$expect"
	echo "corpus: wrote $expect"
	exit $status
fi
if ! diff -u "$expect" "$out"; then
	echo "corpus: $proto: the summary differs from $expect (if the change is intended, run with --update and review the diff)" >&2
	status=1
fi
n=$(wc -l <"$out")
[ "$n" -gt 0 ] || { echo "corpus: no capture in $dir" >&2; status=1; }
mismatch=$(awk -F'\t' '{ split($5, a, "="); s += a[2] } END { print s + 0 }' "$out")
pdus=$(awk -F'\t' '{ split($3, a, "="); s += a[2] } END { print s + 0 }' "$out")
echo "corpus: $proto: $n captures, $pdus PDUs, $mismatch round-trip mismatches"
[ "$mismatch" -eq 0 ] || status=1
exit $status
