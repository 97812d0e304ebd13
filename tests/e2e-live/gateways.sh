#!/bin/bash
# xgw-replay --live through the whole path:
#
#   xgw-replay --live -> xgw-modbus (A, client side) -> xgwd A -> Prosody
#     -> xgwd B -> xgw-modbus (B, device side) -> plcsim
#
# Gateway A routes unit 1 to the simulator's unit 1 and unit 10 to its
# dead unit 3.  Checks: the capture written with the simulator's values,
# paced as captured, all matches; a real capture (writes, then reads of
# what was written) is answered exactly as captured; a real capture for
# unit 10 gives timeouts (the replay waits less than the gateways), and
# its request for a unit without a route the gateway's exception 0x0A.
#
#   gateways.sh XGW-REPLAY XGWD XGWCTL XGW-MODBUS PLCSIM MKCAP PCAPS SRCDIR
set -u
replay=$(readlink -f "$1") xgwd=$(readlink -f "$2") xgwctl=$(readlink -f "$3")
adapter=$(readlink -f "$4") plcsim=$(readlink -f "$5") mkcap=$(readlink -f "$6")
pcaps=$7 src=$(readlink -f "$8")
. "$src/tests/e2e/lib.sh"
. "$src/tests/e2e-live/lib.sh"
test_setup live-2gw a.log b.log

small=$(capture modbus zeek__modbusSmall.pcap)
p502=$(capture modbus zeek__modbus-and-non-modbus-p502.pcap)
prosody_start

set -- $(free_ports 2)
plc_port=$1 gw_port=$2
plcsim_start "$plc_port" -d

adapter_dir xgw-modbus="$adapter"
d1=urn:uuid:11111111-1111-4111-8111-111111111111
d3=urn:uuid:33333333-3333-4333-8333-333333333333
printf 'pass request modbus\npass response modbus\n' >"$t/rules"
gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" "$USER2_JID" "$t/rules" "adapter modbus {
	listen 127.0.0.1 port $gw_port
	timeout 1500ms
	route \"unit 1\" to $d1
	route \"unit 10\" to $d3
}"
gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" "$USER1_JID" "$t/rules" "adapter modbus {
	device $d1 host 127.0.0.1 port $plc_port unit 1 timeout 1s
	device $d3 host 127.0.0.1 port $plc_port unit 3 timeout 1s
}"
gateways_up b a
wait_for 10 listening "$gw_port" || die "gateway A's Modbus listener is not up"
gw=127.0.0.1:$gw_port
ok "two gateways up, linked through Prosody"

# First, while the simulator holds its initial pattern (the small capture
# writes coils 0..2).
"$mkcap" match "$t/match.pcap" || die "mkcap match"
live paced 0 --live "$gw" "$t/match.pcap"
counts paced "match 4, differ 0, timeout 0, silent 0"
took paced 1190 3000
ok "the simulator's values, paced as captured: 4 of 4 match in $ms ms"

# 16 connections, one exchange each: a write of coils 0..2, then a read of them.
live small 0 --live "$gw" --pace fast "$small"
counts small "match 16, differ 0, timeout 0, silent 0"
has small "exchanges 16 in 16 flows"
ok "zeek__modbusSmall.pcap through both gateways: 16 of 16 match in $(elapsed_ms small) ms"

# Unit 10 is the dead unit behind B: the gateways answer 0x0B after 1 s,
# the replay gives up after 400 ms (and reconnects, so a late answer is
# never taken for the next one).  Unit 0 has no route: 0x0A at once.
live dead 1 --live "$gw" --pace fast --timeout 400 "$p502"
counts dead "match 0, differ 1, timeout 6, silent 0"
has dead "exchanges 7 in 2 flows"
lines dead 6 'timeout: no answer within 400 ms'
has dead "exchange 1 fc10/request: answer: captured none, live fc10/exception"
ok "the dead unit: 6 timeouts; the unit without a route: the gateway's own exception"

live again 0 --live "$gw" --pace fast "$small"
counts again "match 16, differ 0, timeout 0, silent 0"
ok "after the timeouts, the gateways still answer everything as captured"
echo "live-2gw: all passed"
