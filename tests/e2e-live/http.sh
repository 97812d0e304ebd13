#!/bin/bash
# xgw-replay --live with HTTP against httpsim.py, which answers with the
# captured responses of zeek__pipelined-requests.pcap (five GETs on one
# keep-alive connection), each changed as asked: a fresh Date and Server
# always (never compared), Content-Type on the 2nd, the body on the 4th,
# the status on the 5th; it closes the connection after the 3rd (the
# replay opens a new one) or drops the 5th unanswered (the replay sends it
# again, once, on a new connection, then gives up: a timeout).
#
#   http.sh XGW-REPLAY PCAPS SRCDIR
set -u
replay=$(readlink -f "$1") pcaps=$2 src=$(readlink -f "$3")
. "$src/tests/e2e/lib.sh"
. "$src/tests/e2e-live/lib.sh"
test_setup live-http

cap=$(capture http zeek__pipelined-requests.pcap)
command -v tshark >/dev/null || die "tshark not found (tests/deps.sh)"
# tshark, independently: five 200 answers, the server's side of the stream
[ "$(tshark -r "$cap" -Y http.response -T fields -e http.response.code 2>/dev/null |
	tr '\n' ' ')" = "200 200 200 200 200 " ] || die "tshark does not see five 200 answers"
tshark -r "$cap" -q -z follow,tcp,raw,0 >"$t/stream.txt" 2>/dev/null ||
	die "tshark cannot follow the stream"

# sim NAME CHANGE...: a fresh simulator (it counts requests), its port in $port
sim() {
	local log=$1
	shift
	port=$(free_ports 1)
	"$py" "$src/tests/e2e-live/httpsim.py" "$port" "$t/stream.txt" "$@" \
		>"$t/$log.sim" 2>&1 &
	pids+=($!)
	wait_for 10 listening "$port" || die "httpsim does not listen"
	# the probe was read as no request: it sent nothing
}

sim fast 2:type 3:close 4:body 5:404
live fast 1 --live "127.0.0.1:$port" --pace fast "$cap"
pipelined_changed fast
ok "2 of 5 match; Content-Type, body and status differ, each named; Date and Server not compared"

sim paced 3:close
live paced 0 --live "127.0.0.1:$port" "$cap"
counts paced "match 5, differ 0, timeout 0, silent 0"
took paced 540 3000
ok "paced as captured ($ms ms), the server's close after the 3rd answer: 5 of 5 match"

sim drop 5:drop
live drop 1 --live "127.0.0.1:$port" --pace fast --timeout 500 "$cap"
counts drop "match 4, differ 0, timeout 1, silent 0"
has drop "exchange 5 get/request: timeout: connection closed by the peer"
[ "$(grep -c '^request' "$t/drop.sim")" -eq 6 ] ||
	die "drop: expected the 5th request sent twice:$(printf '\n'; cat "$t/drop.sim")"
ok "a request the server drops with its connection is sent once more, then a timeout"
echo "live-http: all passed"
