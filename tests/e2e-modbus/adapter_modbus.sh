#!/bin/bash
# xgw-modbus end to end without XMPP:
#
#   clients (mbpoll, pymodbus, raw sockets) -> xgw-modbus client side
#     -> fakexgwd (loops each request back) -> xgw-modbus device side
#     -> plcsim (libmodbus server, unit 2 slow, unit 3 dead)
#
# usage: adapter_modbus.sh XGW-MODBUS PLCSIM FAKEXGWD CLIENTS.PY
set -eu

if [ $# -ne 4 ]; then
	echo "usage: adapter_modbus.sh xgw-modbus plcsim fakexgwd clients.py" >&2
	exit 2
fi
adapter=$1 plcsim=$2 fakexgwd=$3 clients=$4
. "$(dirname "$0")/../e2e/lib.sh"
test_setup adapter_modbus gw.err

command -v mbpoll >/dev/null ||
	die "mbpoll is not installed (Debian package mbpoll; tests/deps.sh)"
[ -x "$py" ] && "$py" -c 'import pymodbus.client' 2>/dev/null ||
	die "$py cannot import pymodbus.client (Debian packages python3-pymodbus python3-serial-asyncio; tests/deps.sh)"

# Free loopback ports: the PLC, the adapter, and one nothing listens on.
set -- $(free_ports 3)
plc_port=$1 gw_port=$2 closed_port=$3

plcsim_start "$plc_port" -s 300 -d

d1=urn:uuid:11111111-1111-4111-8111-111111111111
d2=urn:uuid:22222222-2222-4222-8222-222222222222
d3=urn:uuid:33333333-3333-4333-8333-333333333333
d4=urn:uuid:44444444-4444-4444-8444-444444444444
d5=urn:uuid:55555555-5555-4555-8555-555555555555
d6=urn:uuid:66666666-6666-4666-8666-666666666666
cat >"$t/block.conf" <<EOF
adapter modbus {
	listen 127.0.0.1 port $gw_port
	timeout 1500ms
	route "unit 1" to $d1
	route "unit 2" to $d2
	route "unit 3" to $d3
	route "unit 4" to $d4
	route "unit 5" to $d5
	route "unit 6" to $d6
	device $d1 host 127.0.0.1 port $plc_port unit 1 timeout 1s
	device $d2 host 127.0.0.1 port $plc_port unit 2 timeout 1s
	device $d3 host 127.0.0.1 port $plc_port unit 3 timeout 500ms
	device $d6 host 127.0.0.1 port $closed_port unit 6 timeout 500ms
}
EOF

# unit 4: xgwd says the link is down; unit 5: the request is lost on the way
"$fakexgwd" -c "$t/block.conf" -u nobody -s "$t/stats" \
    -F "$d4=link-down" -D "$d5" "$adapter" 2>"$t/gw.err" &
gw_pid=$!
pids+=("$gw_pid")
wait_for 10 listening "$gw_port" || die "the adapter does not listen on port $gw_port"

rc=0
"$py" "$clients" "$gw_port" "$t/plc.log" "$t/gw.err" || rc=1

kill "$gw_pid"
wait "$gw_pid" || { echo "adapter_modbus: fakexgwd found violations" >&2; rc=1; }
if [ $rc -ne 0 ]; then
	echo "--- adapter and fakexgwd log" >&2
	tail -n 40 "$t/gw.err" >&2
fi
grep -q "VIOLATION" "$t/gw.err" && rc=1
tail -n 1 "$t/gw.err"
exit $rc
