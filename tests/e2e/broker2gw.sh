#!/bin/bash
# Modbus/TCP and CoAP through the Service Broker: two gateways register
# with xgw-broker, which relays only the flows it activated.
#
#   client -> gateway A -> Prosody -> xgw-broker -> Prosody -> gateway B
#     -> PLC (plcsim), CoAP server (coap-server-openssl)
#
# Checks: both gateways register (their endpoints appear at the broker); a
# read on the active flow is answered by the PLC, byte-exact but for the
# transaction id; a request for an endpoint with no active flow is refused by
# gateway A itself (0x0A) and never reaches the broker's relay; a CoAP
# observation's notifications, events from B to the client's endpoint,
# find their way back through the broker (the flow's route).
#
#   broker2gw.sh XGWD XGWCTL XGW-MODBUS XGW-COAP XGW-BROKER PLCSIM SRCDIR
set -u
xgwd=$(readlink -f "$1") xgwctl=$(readlink -f "$2") adapter=$(readlink -f "$3")
coap=$(readlink -f "$4") broker=$(readlink -f "$5") plcsim=$(readlink -f "$6") src=$(readlink -f "$7")
. "$src/tests/e2e/lib.sh"
test_setup broker2gw a.log b.log broker.log

prosody_start
set -- $(free_ports 4)
plc_port=$1 gw_port=$2 sensor_port=$3 coap_port=$4
coap-server-openssl -A 127.0.0.1 -p "$sensor_port" >"$t/sensor.log" 2>&1 &
pids+=($!)
plcsim_start "$plc_port"

GA=urn:uuid:a0000000-0000-4000-8000-00000000000a
GB=urn:uuid:b0000000-0000-4000-8000-00000000000b
plc=urn:uuid:11111111-1111-4111-8111-111111111111
other=urn:uuid:22222222-2222-4222-8222-222222222222
sensor=urn:uuid:33333333-3333-4333-8333-333333333333
# gateway A's client sides speak as UUIDs derived from A's own
endpoint() { echo "urn:uuid:$("$py" -c "import uuid; print(uuid.uuid5(uuid.UUID('57fe6229-08f5-4728-84b3-cc97fe9d4629'), '$GA/$1'))")"; }
client=$(endpoint modbus)

echo "$XMPP_COMPONENT_SECRET" >"$t/secret"
cat >"$t/flows" <<EOF
bind $GA $USER1_JID
bind $GB $USER2_JID
flow 1 $client $plc modbus request
flow 2 $(endpoint coap) $sensor coap request
EOF
"$broker" -v -k "$t/secret" -j "$XMPP_COMPONENT" -p "$XMPP_COMPONENT_PORT" \
    -d "$t/registry.db" -f "$t/flows" >"$t/broker.log" 2>&1 &
pids+=($!)

adapter_dir xgw-modbus="$adapter" xgw-coap="$coap"
printf 'pass request modbus\npass response modbus\npass request coap\npass response coap\npass event coap\n' >"$t/rules"
gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" "$XMPP_COMPONENT" "$t/rules" "adapter modbus {
	listen 127.0.0.1 port $gw_port
	timeout 1500ms
	route \"unit 1\" to $plc
	route \"unit 2\" to $other
}
adapter coap {
	listen 127.0.0.1 port $coap_port
	route \"/\" to $sensor
}"
gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" "$XMPP_COMPONENT" "$t/rules" "adapter modbus {
	device $plc host 127.0.0.1 port $plc_port unit 1 timeout 1s
	device $other host 127.0.0.1 port $plc_port unit 2 timeout 1s
}
adapter coap {
	device $sensor host 127.0.0.1 port $sensor_port timeout 2s
}"
sed -i "1i gateway $GA" "$t/a.conf"
sed -i "1i gateway $GB" "$t/b.conf"
for g in b a; do
	"$xgwd" -f "$t/$g.conf" >"$t/$g.log" 2>&1 &
	pids+=($!)
done
registered() { grep -q "broker: registered" "$t/$1.log"; }
has_flow() { status a | grep -q "^flow 1 modbus request $client -> $plc active"; }
wait_for 30 registered a || die "gateway A did not register with the broker"
wait_for 30 registered b || die "gateway B did not register with the broker"
wait_for 10 has_flow || die "gateway A did not learn flow 1: $(status a | grep '^flow')"
ok "both gateways registered; A learnt its flow from the registration result"

PYTHONPATH=$src/tests/e2e "$py" - "$gw_port" "$t/plc.log" >"$t/client.out" 2>&1 <<'EOF' || die "$(cat "$t/client.out")"
import struct, sys
from modbus_adu import adu, exchange, refused_at_once
port, plclog = int(sys.argv[1]), sys.argv[2]
req = adu(0x4242, 1, 3, struct.pack(">HH", 10, 2))
rsp = exchange(port, req)
want = adu(0x4242, 1, 3, struct.pack(">BHH", 4, 71, 78))
assert rsp == want, "read on the flow: %s, expected %s" % (rsp.hex(), want.hex())
logged = open(plclog).read().split()
assert req[2:].hex() in [l[4:] for l in logged], "the PLC did not get the client's ADU: %s" % logged[-3:]
refused_at_once(port, 0x4243, 2, "no flow")
print("ok")
EOF
ok "a read on the active flow crosses the broker to the PLC and back, byte-exact"
grep -q "no active flow; refused" "$t/a.log" || die "A did not log the refused request"
[ "$(status a | awk '$1 == "stanzas" { for (i = 1; i < NF; i++) if ($i == "no-flow") print $(i + 1) }')" -ge 1 ] ||
	die "A did not count the request without a flow"
ok "a request outside every flow is refused at gateway A with 0x0A and counted"

# The registration is a request on flow 2; each notification is an event
# from the sensor's UUID to A's client endpoint, which the broker relays
# on the flow's route (the gateway that asked), not by looking it up anew.
out=$(timeout 30 coap-client-openssl -B 10 -s 5 "coap://127.0.0.1:$coap_port/time" 2>&1)
n=$(grep -o '[0-9][0-9]:[0-9][0-9]:[0-9][0-9]' <<<"$out" | sort -u | wc -l)
[ "$n" -ge 4 ] || die "observe /time through the broker: $n distinct values at the client: '$out'"
passed=$(status a | awk '$1 == "stanzas" { print $3 }')
ok "observe /time through the broker: $n notifications at the client ($passed stanzas passed at A)"
# A names its UUID in xgw.conf: its state directory, where a receiver keeps
# its place, is made all the same, and B's events are acknowledged.
acked() { [ "$(status b | awk '$1 == "spool" { for (i = 1; i < NF; i++) if ($i == "acked") print $(i + 1) }')" -ge 4 ]; }
wait_for 10 acked || die "B's events were not acknowledged by A: $(status b | grep '^spool'); $(grep 'not saved' "$t/a.log" | head -1)"
ok "B's notifications acknowledged by A, whose state directory was made"
echo "broker2gw: all passed"
