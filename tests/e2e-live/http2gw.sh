#!/bin/bash
# xgw-replay --live with HTTP through the whole path:
#
#   xgw-replay --live -> xgw-http (A, client side) -> xgwd A -> Prosody
#     -> xgwd B -> xgw-http (B, device side) -> httpsim.py
#
# The capture and the simulator's changes are those of http.sh (five
# pipelined GETs of zeek__pipelined-requests.pcap), and where the path is
# transparent the report is the same as straight to the simulator: the
# changed Content-Type, body and status named, the simulator's close after
# the 3rd answer unseen by the client, the captured pace kept.  Where it is
# not: the simulator drops the 5th request with its connection, and
# gateway B, after sending it once more, answers 502 (the direct replay
# gets no answer: a timeout);
# and, once both gateways run a rule set that rejects the 5th request's
# path, gateway A answers 403 and the simulator never sees that request.
#
#   http2gw.sh XGW-REPLAY XGWD XGWCTL XGW-HTTP PCAPS SRCDIR
set -u
replay=$(readlink -f "$1") xgwd=$(readlink -f "$2") xgwctl=$(readlink -f "$3")
adapter=$(readlink -f "$4") pcaps=$5 src=$(readlink -f "$6")
. "$src/tests/e2e/lib.sh"
. "$src/tests/e2e-live/lib.sh"
test_setup live-http-2gw a.log b.log

cap=$(capture http zeek__pipelined-requests.pcap)
command -v tshark >/dev/null || die "tshark not found (tests/deps.sh)"
# tshark, independently: five GETs for www.mozilla.org, the 5th (only) under /projects/
[ "$(tshark -r "$cap" -Y http.request -T fields -e http.host -e http.request.uri 2>/dev/null |
	grep -c $'^www.mozilla.org\t/')" -eq 5 ] || die "tshark does not see five requests for www.mozilla.org"
[ "$(tshark -r "$cap" -Y http.request -T fields -e http.request.uri 2>/dev/null |
	grep -n '^/projects/')" = "5:/projects/calendar/images/header-sunbird.png" ] ||
	die "tshark: the 5th request alone is not under /projects/"
tshark -r "$cap" -q -z follow,tcp,raw,0 >"$t/stream.txt" 2>/dev/null ||
	die "tshark cannot follow the stream"
prosody_start

set -- $(free_ports 2)
sim_port=$1 gw_port=$2
adapter_dir xgw-http="$adapter"
d1=urn:uuid:11111111-1111-4111-8111-111111111111
printf 'pass request http\npass response http\n' >"$t/rules"
gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" "$USER2_JID" "$t/rules" "adapter http {
	listen 127.0.0.1 port $gw_port
	timeout 3s
	route \"/\" to $d1
}"
gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" "$USER1_JID" "$t/rules" "adapter http {
	device $d1 host 127.0.0.1 port $sim_port timeout 2s
}"
gateways_up b a
wait_for 10 listening "$gw_port" || die "gateway A's HTTP listener is not up"
gw=127.0.0.1:$gw_port
ok "two gateways up, linked through Prosody"

# sim NAME CHANGE...: a fresh simulator on $sim_port (it counts requests)
sim_pid=
sim() {
	local log=$1
	shift
	[ -z "$sim_pid" ] || { kill "$sim_pid"; wait "$sim_pid" 2>/dev/null; }
	"$py" "$src/tests/e2e-live/httpsim.py" "$sim_port" "$t/stream.txt" "$@" \
		>"$t/$log.sim" 2>&1 &
	sim_pid=$!
	pids+=($sim_pid)
	wait_for 10 listening "$sim_port" || die "httpsim does not listen"
}

# requests NAME N: the simulator read N requests
requests() {
	[ "$(grep -c '^request' "$t/$1.sim")" -eq "$2" ] ||
		die "$1: the simulator read $(grep -c '^request' "$t/$1.sim") requests, expected $2"
}

sim fast 2:type 3:close 4:body 5:404
live fast 1 --live "$gw" --pace fast "$cap"
pipelined_changed fast
requests fast 5
ok "as straight to the device: 2 of 5 match; Content-Type, body and status differ, each named"

sim paced 3:close
live paced 0 --live "$gw" "$cap"
counts paced "match 5, differ 0, timeout 0, silent 0"
took paced 540 3000
requests paced 5
ok "paced as captured ($ms ms), the device's close after the 3rd answer: 5 of 5 match"

# Not transparent: gateway B, like the direct replay, sends a GET the
# device dropped with its connection once more; then it answers 502.
sim drop 5:drop
live drop 1 --live "$gw" --pace fast --timeout 1500 "$cap"
counts drop "match 4, differ 1, timeout 0, silent 0"
has drop "exchange 5 get/request: status: captured 200, live 502"
has drop "exchange 5 get/request: reason: captured OK, live Bad Gateway"
requests drop 6
ok "the device drops the 5th request twice: gateway B's 502 instead of the direct replay's timeout"

# The policy rejects the 5th request's path, on both gateways: A answers.
printf 'reject request http path prefix "/projects/"\npass request http\npass response http\n' \
	>"$t/rules"
for g in a b; do
	"$xgwctl" reload -s "$t/$g.sock" >"$t/reload-$g.out" 2>&1 ||
		die "gateway $g: reload: $(cat "$t/reload-$g.out")"
done
sim deny
live deny 1 --live "$gw" --pace fast "$cap"
counts deny "match 4, differ 1, timeout 0, silent 0"
has deny "exchange 5 get/request: status: captured 200, live 403"
has deny "exchange 5 get/request: reason: captured OK, live Forbidden"
hasnt deny "exchange 1 "
requests deny 4
grep -q 'rules:1: .*reject request http path prefix "/projects/"' "$t/a.log" ||
	die "gateway A logged no verdict of the rule at rules:1"
! grep -q 'reject request http' "$t/b.log" || die "the rejected request reached gateway B"
ok "the policy rejects /projects/: the 5th answer is A's 403 (rules:1), the device saw 4 requests"
! grep -E 'Sanitizer|runtime error' "$t/a.log" "$t/b.log" ||
	die "a sanitizer reported an error (above)"
echo "live-http-2gw: all passed"
