#!/bin/bash
# Modbus/TCP through two gateways, the complete packet transversion:
#
#   pymodbus, mbpoll, raw sockets -> xgw-modbus (A, client side) -> xgwd A
#     -> Prosody (STARTTLS) -> xgwd B -> xgw-modbus (B, device side) -> plcsim
#
# and back.  Both xgwd judge every stanza.  Checks: every public function,
# the ADU the PLC receives equals the client's byte for byte except the
# transaction id, concurrent clients, pipelining, a dead unit (0x0B within
# its timeout), a slow unit, malformed input; a write the policy rejects
# never reaches the PLC and the client gets exception 02 (03 when only the
# far gateway's rules reject it: it answers, A passes it on); a request for an
# endpoint no gateway serves gets 0x0A; with the XMPP server down, 0x0A.
#
#   modbus2gw.sh XGWD XGWCTL XGW-MODBUS PLCSIM CLIENTS.PY SRCDIR
set -u
xgwd=$(readlink -f "$1") xgwctl=$(readlink -f "$2") adapter=$(readlink -f "$3")
plcsim=$(readlink -f "$4") clients=$(readlink -f "$5") src=$(readlink -f "$6")
. "$src/tests/e2e/lib.sh"
test_setup modbus2gw a.log b.log

command -v mbpoll >/dev/null || die "mbpoll is not installed (tests/deps.sh)"
"$py" -c 'import pymodbus.client' 2>/dev/null || die "$py cannot import pymodbus (tests/deps.sh)"
prosody_start

set -- $(free_ports 3)
plc_port=$1 gw_port=$2 closed_port=$3

plcsim_start "$plc_port" -s 300 -d

adapter_dir xgw-modbus="$adapter"
d1=urn:uuid:11111111-1111-4111-8111-111111111111
d2=urn:uuid:22222222-2222-4222-8222-222222222222
d3=urn:uuid:33333333-3333-4333-8333-333333333333
d4=urn:uuid:44444444-4444-4444-8444-444444444444
d6=urn:uuid:66666666-6666-4666-8666-666666666666

# Both gateways: writes to 7000..7999 are refused with exception 02.
cat >"$t/rules" <<EOF
reject with illegal-data-address request modbus function write-single-register address 7000:7999
pass request modbus
pass response modbus
EOF
# B's rules are stricter: writes to 8000..8999 refused there, with exception 03
{ echo 'reject with illegal-data-value request modbus function write-single-register address 8000:8999'
  cat "$t/rules"; } >"$t/rules-b"

gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" "$USER2_JID" "$t/rules" "adapter modbus {
	listen 127.0.0.1 port $gw_port
	timeout 1500ms
	route \"unit 1\" to $d1
	route \"unit 2\" to $d2
	route \"unit 3\" to $d3
	route \"unit 4\" to $d4
	route \"unit 6\" to $d6
}"
gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" "$USER1_JID" "$t/rules-b" "adapter modbus {
	device $d1 host 127.0.0.1 port $plc_port unit 1 timeout 1s
	device $d2 host 127.0.0.1 port $plc_port unit 2 timeout 1s
	device $d3 host 127.0.0.1 port $plc_port unit 3 timeout 500ms
	device $d6 host 127.0.0.1 port $closed_port unit 6 timeout 500ms
}"

gateways_up b a
wait_for 10 listening "$gw_port" || die "gateway A's Modbus listener is not up"
ok "two gateways up, linked through Prosody"

CLIENTS_STEPS=pymodbus_functions,raw_functions,mbpoll_functions,concurrent_clients,pipelined,dead_and_slow_units,malformed \
	"$py" "$clients" "$gw_port" "$t/plc.log" "$t/a.log" >"$t/clients.out" 2>&1 ||
	die "clients: $(grep -E 'FAIL|failed' "$t/clients.out" | head -10)"
sed 's/^/modbus2gw:   /' "$t/clients.out"
ok "every public function, byte-exact at the PLC, through both gateways"

# The policy, the unknown endpoint and the dead link, with raw ADUs.
PYTHONPATH=$src/tests/e2e "$py" - "$gw_port" "$t/plc.log" >"$t/policy.out" 2>&1 <<'EOF' || die "$(cat "$t/policy.out")"
import struct, sys
from modbus_adu import adu, exchange, refused_at_once
port, plclog = int(sys.argv[1]), sys.argv[2]
before = open(plclog).read()
req = adu(0x7001, 1, 6, struct.pack(">HH", 7000, 1234))
rsp = exchange(port, req)
assert rsp == adu(0x7001, 1, 0x86, b"\x02"), "rejected write: %s" % rsp.hex()
assert open(plclog).read() == before, "the rejected write reached the PLC"
req = adu(0x7002, 1, 6, struct.pack(">HH", 6999, 1234))
rsp = exchange(port, req)
assert rsp == req, "allowed write next to the rejected range: %s" % rsp.hex()
refused_at_once(port, 0x7003, 4, "endpoint no gateway serves")
# refused by B's rules alone: B answers with its exception, A passes it on
before = open(plclog).read()
req = adu(0x7004, 1, 6, struct.pack(">HH", 8000, 1234))
rsp = exchange(port, req)
assert rsp == adu(0x7004, 1, 0x86, b"\x03"), "write B rejects: %s" % rsp.hex()
assert open(plclog).read() == before, "the write B rejects reached the PLC"
print("policy and unknown endpoint: ok")
EOF
ok "a rejected write gets exception 02 (03 when only B's rules reject it) and never reaches the PLC; an unknown endpoint gets 0x0A"

"$src/tests/e2e/prosody.sh" stop "$t/xmpp" >/dev/null
wait_for 15 sh -c "! \"$xgwctl\" status -s \"$t/a.sock\" | grep -q '^link up'" || die "A did not notice the server going away"
"$py" - "$gw_port" <<'EOF' || die "link down: no 0x0A"
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 3)
s.settimeout(5)
s.sendall(struct.pack(">HHHBBHH", 0x7777, 0, 6, 1, 3, 0, 1))
rsp = s.recv(9, socket.MSG_WAITALL)
assert rsp == struct.pack(">HHHBBB", 0x7777, 0, 3, 1, 0x83, 0x0a), rsp.hex()
EOF
ok "with the XMPP server down, the client gets 0x0A at once"
echo "modbus2gw: all passed"
