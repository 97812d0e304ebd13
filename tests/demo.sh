#!/bin/bash
# The main job: installs what is needed, builds, and runs the whole thing on
# loopback with a default configuration until Ctrl-C (or XGW_DEMO_SECONDS):
#
#   a SCADA client (mbpoll) -> gateway A (xgwd, xgw-modbus, xgw-coap)
#   a CoAP client           -> Prosody (XMPP over TLS) -> xgw-broker
#                           -> gateway B (xgwd, xgw-modbus, xgw-coap)
#                           -> a PLC (libmodbus) and a CoAP sensor (libcoap)
#
# Both gateways register with the broker, which relays only the two flows the
# site activated.  Both inspect every stanza against a read-only rule set:
# reads pass, writes are rejected (Modbus exception 02, CoAP 4.03) and never
# reach the device.  The live verdicts of both gateways (xgwctl tap) scroll
# by.  Everything the demo starts is stopped on exit.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
sh tests/deps.sh || exit 1
[ -d build ] || meson setup build >/dev/null || exit 1
ninja -C build >/dev/null || exit 1
b=$top/build
src=$top
. "$src/tests/e2e/lib.sh"

t=$(mktemp -d /tmp/xgw-demo.XXXXXX)
pids=()
cleanup() {
	echo
	echo "demo: stopping"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$src/tests/e2e/prosody.sh" stop "$t/xmpp" >/dev/null 2>&1
	echo "demo: logs kept in $t"
}
trap cleanup EXIT
trap 'exit 0' INT TERM
fail() {
	echo "demo: $*" >&2
	exit 1
}

echo "demo: starting Prosody on loopback (site CA and certificates in $t/xmpp/pki)"
"$src/tests/e2e/prosody.sh" start "$t/xmpp" >"$t/prosody.log" 2>&1 ||
	fail "Prosody did not start: $(tail -5 "$t/prosody.log")"
. "$t/xmpp/env"

set -- $(free_ports 4)
plc_port=$1 scada_port=$2 sensor_port=$3 coap_port=$4
"$b/tests/e2e-modbus/plcsim" -p "$plc_port" -l "$t/plc.log" 2>"$t/plcsim.err" &
pids+=($!)
coap-server-openssl -A 127.0.0.1 -p "$sensor_port" >"$t/sensor.log" 2>&1 &
pids+=($!)
wait_for 10 listening "$plc_port" || fail "the PLC simulator did not start"

mkdir -p "$t/adapters"
ln -s "$b/adapters/modbus/xgw-modbus" "$t/adapters/xgw-modbus"
ln -s "$b/adapters/coap/xgw-coap" "$t/adapters/xgw-coap"
export XGW_ADAPTER_DIR=$t/adapters
ga=urn:uuid:a0000000-0000-4000-8000-00000000000a
gb=urn:uuid:b0000000-0000-4000-8000-00000000000b
plc=urn:uuid:6f1c2b9a-0c1e-4d53-9b1a-7d2f3e4a5b60
sensor=urn:uuid:5e000000-0000-4000-8000-000000000001

# Each client side speaks as a UUID derived from its gateway's (RFC 9562 v5).
client() {
	echo "urn:uuid:$("$py" -c "import uuid; print(uuid.uuid5(uuid.UUID('57fe6229-08f5-4728-84b3-cc97fe9d4629'), '$ga/$1'))")"
}
echo "$XMPP_COMPONENT_SECRET" >"$t/secret"
cat >"$t/flows" <<EOF
# which JID owns which gateway UUID, and the flows the site activates
bind $ga $USER1_JID
bind $gb $USER2_JID
flow 1 $(client modbus) $plc modbus request
flow 2 $(client coap) $sensor coap request
EOF
"$b/gateway/xgw-broker" -k "$t/secret" -j "$XMPP_COMPONENT" -p "$XMPP_COMPONENT_PORT" \
    -d "$t/registry.db" -f "$t/flows" >"$t/broker.log" 2>&1 &
pids+=($!)

cat >"$t/rules" <<EOF
# read-only SCADA monitoring of one PLC; read-only CoAP sensors
pass request modbus unit 1 function { read-coils, read-discrete-inputs, read-holding-registers, read-input-registers } address 0:999
pass response modbus unit 1
reject with illegal-data-address request modbus
pass request coap code get
pass response coap
reject request coap
EOF
gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" "$XMPP_COMPONENT" "$t/rules" "adapter modbus {
	listen 127.0.0.1 port $scada_port
	timeout 1500ms
	route \"unit 1\" to $plc
}
adapter coap {
	listen 127.0.0.1 port $coap_port
	route \"/\" to $sensor
}"
gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" "$XMPP_COMPONENT" "$t/rules" "adapter modbus {
	device $plc host 127.0.0.1 port $plc_port unit 1 timeout 1s
}
adapter coap {
	device $sensor host 127.0.0.1 port $sensor_port timeout 2s
}"
sed -i "1i gateway $ga" "$t/a.conf"
sed -i "1i gateway $gb" "$t/b.conf"
for g in b a; do
	"$b/gateway/xgwd" -f "$t/$g.conf" >"$t/$g.log" 2>&1 &
	pids+=($!)
	wait_for 20 grep -q "broker: registered" "$t/$g.log" ||
		fail "gateway $g did not register with the broker: $(tail -5 "$t/$g.log")"
done
wait_for 10 listening "$scada_port" || fail "gateway A does not listen"

echo "demo: gateway A listens for Modbus/TCP on 127.0.0.1:$scada_port and CoAP on 127.0.0.1:$coap_port;"
echo "demo: behind gateway B, the PLC is on 127.0.0.1:$plc_port and the CoAP sensor on 127.0.0.1:$sensor_port"
echo "demo: status of gateway A:"
"$b/gateway/xgwctl" status -s "$t/a.sock" | sed 's/^/    /'
echo "demo: live verdicts (A = client side, B = device side); Ctrl-C stops"
for g in a b; do
	G=$(echo $g | tr a-z A-Z)
	"$b/gateway/xgwctl" tap -s "$t/$g.sock" | sed -u "s/^/$G  /" &
	pids+=($!)
done

# The SCADA side: poll four holding registers every second and read the CoAP
# sensor's clock; every fifth round, try a write of each kind, which the
# policy rejects.
end=$(( $(date +%s) + ${XGW_DEMO_SECONDS:-1000000000} ))
n=0
while [ "$(date +%s)" -lt "$end" ]; do
	n=$((n + 1))
	out=$(mbpoll -1 -q -m tcp -p "$scada_port" -a 1 -t 4 -r 101 -c 4 127.0.0.1 2>&1 | grep -E '^\[' | tr '\n' ' ')
	echo "SCADA poll $n: holding registers 100..103: $out"
	out=$(coap-client-openssl -B 3 "coap://127.0.0.1:$coap_port/time" 2>&1 | tail -1)
	echo "CoAP GET /time: $out"
	if [ $((n % 5)) -eq 0 ]; then
		out=$(mbpoll -1 -q -m tcp -p "$scada_port" -a 1 -t 4 -r 101 127.0.0.1 42 2>&1 | grep -v '^$' | tail -1)
		echo "SCADA write attempt: $out"
		out=$(coap-client-openssl -B 3 -m put -e 42 "coap://127.0.0.1:$coap_port/time" 2>&1 | tail -1)
		echo "CoAP PUT /time attempt: $out"
	fi
	sleep 1
done
