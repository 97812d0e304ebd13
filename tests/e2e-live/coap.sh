#!/bin/bash
# xgw-replay --live with CoAP against libcoap's coap-server (Debian
# libcoap3-bin), which has none of the ETSI plugtest resources: a ping
# matches; GET /test (TD_COAP_CORE_01) differs in code, name, options and
# payload, each named, with message id and token not compared; DELETE
# /test differs in its payload only, and an answer the server drops is a
# timeout; a closed port, a refusal.
#
#   coap.sh XGW-REPLAY PCAPS SRCDIR
set -u
replay=$(readlink -f "$1") pcaps=$2 src=$(readlink -f "$3")
. "$src/tests/e2e/lib.sh"
. "$src/tests/e2e-live/lib.sh"
test_setup live-coap

server=coap-server-openssl
command -v $server >/dev/null ||
	die "$server not found: install Debian's libcoap3-bin (tests/deps.sh)"
ping=$(capture coap ttproto__TD_COAP_CORE_31_PASS.pcap)
get=$(capture coap ttproto__TD_COAP_CORE_01_INCONCLUSIVE_no_payload.pcap)
del=$(capture coap ttproto__TD_COAP_CORE_02_PASS_MULTIPLETIMES.pcap)

# coap-server also listens on TCP on its port: free TCP ports are free for both
set -- $(free_ports 3)
port=$1 lossy=$2 closed=$3
$server -A 127.0.0.1 -p "$port" -v 0 >"$t/server.log" 2>&1 &
pids+=($!)
# -l 2: the server fails to send its second datagram (the first answers the probe)
$server -A 127.0.0.1 -p "$lossy" -l 2 -v 0 >"$t/lossy.log" 2>&1 &
pids+=($!)
for p in $port $lossy; do
	wait_for 10 "$replay" --live "127.0.0.1:$p" --pace fast --timeout 200 "$ping" ||
		die "coap-server on port $p does not answer a ping"
done

live ping 0 --live "127.0.0.1:$port" --pace fast "$ping"
counts ping "match 1, differ 0, timeout 0, silent 0"
ok "a CoAP ping (Empty CON) gets its RST, as captured"

live get 1 --live "127.0.0.1:$port" --pace fast "$get"
counts get "match 0, differ 1, timeout 0, silent 0"
has get "exchange 1 get/con: code: captured 2.05, live 4.04"
has get "exchange 1 get/con: name: captured content, live not-found"
has get "exchange 1 get/con: opt(content-format): captured present, live (absent)"
has get "exchange 1 get/con: opt(max-age): captured present, live (absent)"
has get "exchange 1 get/con: payload: captured (absent), live present"
lines get 5 ': captured '
hasnt get "mid"
hasnt get "token"
hasnt get "type:"
ok "GET /test: 2.05 captured, 4.04 live, every differing field named"

# The ten DELETEs of /test (two flows): the lossy server drops its answer
# to the first (the replay does not retransmit); it answers the others
# 2.02 as captured, but with a payload ("Deleted") the capture has not.
live del 1 --live "127.0.0.1:$lossy" --pace fast --timeout 300 "$del"
counts del "match 0, differ 9, timeout 1, silent 0"
has del "exchanges 10 in 2 flows"
has del "exchange 1 delete/con: timeout: no answer within 300 ms"
lines del 9 'delete/con: payload: captured (absent), live present$'
lines del 9 ': captured '	# and no other difference
ok "a dropped answer is a timeout; the nine others differ in their payload only"

live closed 1 --live "127.0.0.1:$closed" --pace fast "$ping"
counts closed "match 0, differ 0, timeout 1, silent 0"
has closed "timeout: refused (ICMP port unreachable)"
ok "a closed UDP port: refused, at once"
echo "live-coap: all passed"
