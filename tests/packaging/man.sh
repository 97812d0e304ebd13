#!/bin/bash
# The manual pages: each renders with man(1) and groff without a warning, at
# 80 columns no line is wider, and each program's page documents exactly the
# options (or subcommands) its usage message lists, no more, no fewer.
#
#   man.sh SRCDIR XGWD XGW-BROKER XGWCTL XGW-REPLAY
set -u
src=$1 xgwd=$2 broker=$3 xgwctl=$4 replay=$5
man=$src/packaging/man
fail=0

bad() {
	echo "man: FAIL: $*" >&2
	fail=1
}

command -v man >/dev/null || { echo "man: FAIL: man is not installed (man-db)" >&2; exit 1; }
command -v groff >/dev/null || { echo "man: FAIL: groff is not installed (groff-base)" >&2; exit 1; }

pages="xgwd.8 xgw-broker.8 xgwctl.8 xgw-replay.1 xgw.conf.5 xgw-rules.5"
for p in $pages; do
	f=$man/$p
	[ -f "$f" ] || { bad "$p: missing"; continue; }
	w=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
	[ -z "$w" ] || bad "$p: man --warnings: $w"
	w=$(groff -ww -z -mandoc "$f" 2>&1)
	[ -z "$w" ] || bad "$p: groff -ww: $w"
	wide=$(MANWIDTH=80 man -l "$f" 2>/dev/null | LC_ALL=C.UTF-8 wc -L)
	[ "$wide" -le 80 ] || bad "$p: a line $wide columns wide at MANWIDTH=80"
	head=$(MANWIDTH=80 man -l "$f" 2>/dev/null | head -1)
	name=${p%.*} sect=${p##*.}
	echo "$head" | grep -qi "^${name}($sect)" || bad "$p: the header is '$head'"
done

# Words of a usage message that name options: -x letters or --long ones.
usage_opts() {
	grep -oE '(^|[[ ])-[a-zA-Z]+|--[a-z-]+' | sed 's/^[[ ]//; s/^-\([a-zA-Z]\)/\1/' |
		while read -r o; do
			case $o in
			-*) echo "$o" ;;
			*) echo "$o" | grep -o . ;;
			esac
		done | sed 's/^-*//' | sort -u
}

# The options a page lists: ".It Fl x" or ".It Fl -long".
page_opts() {
	sed -n 's/^\.It Fl -\{0,1\}\([a-zA-Z][a-z-]*\).*/\1/p' "$1" | sort -u
}

same() {
	local what=$1 want=$2 have=$3
	[ "$want" = "$have" ] && return
	bad "$what: usage lists [${want//$'\n'/ }], the page [${have//$'\n'/ }]"
}

for pair in "xgwd.8 $xgwd -?" "xgw-broker.8 $broker -?" "xgw-replay.1 $replay"; do
	# shellcheck disable=SC2086 # a program and its arguments
	set -- $pair
	p=$1
	shift
	u=$("$@" 2>&1 >/dev/null)
	[ -n "$u" ] || { bad "$p: $* printed no usage"; continue; }
	same "$p" "$(echo "$u" | usage_opts)" "$(page_opts "$man/$p")"
done

# xgwctl: its subcommands, "pki" with each of its own.
u=$("$xgwctl" 2>&1 >/dev/null)
want=$(echo "$u" | awk '{ for (i = 1; i <= NF; i++) if ($i == "xgwctl") {
	if ($(i + 1) == "pki") { n = split($(i + 2), s, "|"); for (j = 1; j <= n; j++) print "pki " s[j] }
	else print $(i + 1) } }' | sort -u)
have=$(sed -n 's/^\.It Cm \(pki [a-z]*\|[a-z]*\).*/\1/p' "$man/xgwctl.8" | sort -u)
[ -n "$want" ] || bad "xgwctl.8: xgwctl printed no usage"
same xgwctl.8 "$want" "$have"

[ $fail -eq 0 ] && echo "man: ok: $pages render without warnings and match the programs' usage"
exit $fail
