#!/bin/sh
# The conffiles the package ships: xgw.conf parses; xgw.rules checks, has no
# rule in force (default deny until the engineer writes some), and its
# commented example checks too once uncommented, so that it stays correct.
#
#   conffiles.sh SRCDIR XGWD XGWCTL
set -u
src=$1 xgwd=$2 xgwctl=$3
t=$(mktemp -d /tmp/xgw-conffiles.XXXXXX)
trap 'rm -rf "$t"' EXIT

die() {
	echo "conffiles: FAIL: $*" >&2
	exit 1
}

"$xgwd" -n -f "$src/packaging/xgw.conf" >"$t/conf.out" 2>&1 ||
	die "xgw.conf: $(cat "$t/conf.out")"
"$xgwctl" check "$src/packaging/xgw.rules" >"$t/rules.out" 2>&1 ||
	die "xgw.rules: $(cat "$t/rules.out")"
[ ! -s "$t/rules.out" ] || die "xgw.rules has rules in force: $(cat "$t/rules.out")"
# "#x" and "#<tab>" start commented rule lines; "# " starts prose
sed 's/^#\([^ ]\)/\1/' "$src/packaging/xgw.rules" >"$t/example.rules"
"$xgwctl" check "$t/example.rules" >"$t/example.out" 2>&1 ||
	die "xgw.rules, uncommented: $(cat "$t/example.out")"
n=$(grep -c '^\(pass\|block\|reject\)' "$t/example.out")
[ "$n" -eq 5 ] || die "xgw.rules, uncommented: $n rules, expected the example's 5"
echo "conffiles: ok: xgw.conf parses; xgw.rules has no rule in force, its example has 5 that check"
