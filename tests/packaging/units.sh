#!/bin/bash
# The shipped systemd units: `systemd-analyze verify` says nothing (every
# directive known, ExecStart executable, each Documentation= page found),
# and `systemd-analyze security --offline=true` puts xgwd.service and
# xgw-broker.service at an exposure of 2.0 or lower.  Both work without
# systemd as PID 1.  The units are checked as meson installs them, with
# @SBINDIR@ pointing at the built programs.
#
#   units.sh SRCDIR XGWD XGW-BROKER
set -u
src=$1 xgwd=$(readlink -f "$2") broker=$(readlink -f "$3")
max=2.0
t=$(mktemp -d /tmp/xgw-units.XXXXXX)
trap 'rm -rf "$t"' EXIT
fail=0

bad() {
	echo "units: FAIL: $*" >&2
	fail=1
}

command -v systemd-analyze >/dev/null ||
	{ echo "units: FAIL: systemd-analyze is not installed (systemd)" >&2; exit 1; }
[ "$(dirname "$xgwd")" = "$(dirname "$broker")" ] ||
	{ echo "units: FAIL: xgwd and xgw-broker are not built in one folder" >&2; exit 1; }

# what Documentation= names, where man(1) finds it
for p in "$src"/packaging/man/*.[158]; do
	mkdir -p "$t/man/man${p##*.}"
	cp "$p" "$t/man/man${p##*.}/"
done
for u in xgwd xgw-broker; do
	sed "s|@SBINDIR@|$(dirname "$xgwd")|g" "$src/packaging/$u.service.in" >"$t/$u.service"
done

out=$(cd "$t" && MANPATH=$t/man systemd-analyze verify ./xgwd.service ./xgw-broker.service 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -z "$out" ] || bad "systemd-analyze verify (status $rc): $out"

for u in xgwd xgw-broker; do
	out=$(cd "$t" && systemd-analyze security --offline=true "./$u.service" 2>&1)
	level=$(echo "$out" | sed -n "s/.*Overall exposure level for $u.service: \([0-9.]*\).*/\1/p")
	if [ -z "$level" ]; then
		bad "$u.service: no exposure level in: $(echo "$out" | tail -3)"
		continue
	fi
	echo "units: $u.service exposure $level (at most $max)"
	awk -v l="$level" -v m="$max" 'BEGIN { exit !(l <= m) }' ||
		bad "$u.service: exposure $level is above $max: $(echo "$out" | grep '✗')"
done
[ $fail -eq 0 ] && echo "units: ok: verify is clean, exposure within $max"
exit $fail
