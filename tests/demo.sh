#!/bin/bash
# The main job: installs what is needed, builds, and runs the whole thing on
# loopback with a default configuration until Ctrl-C (or XGW_DEMO_SECONDS):
#
#   a SCADA client (mbpoll)     -> gateway A (xgwd, xgw-modbus, xgw-coap,
#   a CoAP client                    xgw-mqtt, xgw-http)
#   an MQTT sensor (mosquitto A)   -> Prosody (XMPP over TLS) -> xgw-broker
#   a browser (curl)               -> gateway B (the same adapters)
#     -> a PLC (libmodbus), a CoAP sensor (libcoap), mosquitto B (where an
#        MQTT subscriber listens) and a device's web page (python3 http.server)
#
# Both gateways register with the broker, which relays only the two flows the
# site activated.  Both inspect every stanza against a read-only rule set:
# reads pass, writes are rejected (Modbus exception 02, CoAP 4.03, HTTP 403)
# and never reach the device; only the sensor's topics cross to broker B.  The live verdicts of both gateways (xgwctl tap) scroll
# by.  Everything the demo starts is stopped on exit.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
# XGW_DEMO_BUILD=DIR: an existing build, nothing installed or built (the
# demo's own test, tests/e2e/demo.sh, runs it so).
if [ -n "${XGW_DEMO_BUILD:-}" ]; then
	b=$XGW_DEMO_BUILD
else
	sh tests/deps.sh || exit 1
	[ -d build ] || meson setup build >/dev/null || exit 1
	ninja -C build >/dev/null || exit 1
	b=$top/build
fi
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

set -- $(free_ports 8)
plc_port=$1 scada_port=$2 sensor_port=$3 coap_port=$4 mqtt_a_port=$5 mqtt_b_port=$6 www_port=$7 http_port=$8
"$b/tests/e2e-modbus/plcsim" -p "$plc_port" -l "$t/plc.log" 2>"$t/plcsim.err" &
pids+=($!)
coap-server-openssl -A 127.0.0.1 -p "$sensor_port" >"$t/sensor.log" 2>&1 &
pids+=($!)
for g in a b; do
	eval "port=\$mqtt_${g}_port"
	printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$t/mosquitto-$g.conf"
	mosquitto -c "$t/mosquitto-$g.conf" >"$t/mosquitto-$g.log" 2>&1 &
	pids+=($!)
done
mkdir -p "$t/www"
cat >"$t/www/index.html" <<EOF
<!DOCTYPE html>
<html><head><title>Pump station 7: status</title></head>
<body><h1>Pump station 7</h1><p>Pressure 4.2 bar, flow 31 m3/h, all pumps running.</p></body></html>
EOF
"$py" -m http.server --bind 127.0.0.1 --directory "$t/www" "$www_port" >"$t/www.log" 2>&1 &
pids+=($!)
for p in "$plc_port" "$mqtt_a_port" "$mqtt_b_port" "$www_port"; do
	wait_for 10 listening "$p" || fail "a device on port $p did not start (logs in $t)"
done

mkdir -p "$t/adapters"
ln -s "$b/adapters/modbus/xgw-modbus" "$t/adapters/xgw-modbus"
ln -s "$b/adapters/coap/xgw-coap" "$t/adapters/xgw-coap"
ln -s "$b/adapters/mqtt/xgw-mqtt" "$t/adapters/xgw-mqtt"
ln -s "$b/adapters/http/xgw-http" "$t/adapters/xgw-http"
export XGW_ADAPTER_DIR=$t/adapters
ga=urn:uuid:a0000000-0000-4000-8000-00000000000a
gb=urn:uuid:b0000000-0000-4000-8000-00000000000b
plc=urn:uuid:6f1c2b9a-0c1e-4d53-9b1a-7d2f3e4a5b60
sensor=urn:uuid:5e000000-0000-4000-8000-000000000001
mqtt_b=urn:uuid:5e000000-0000-4000-8000-000000000002
page=urn:uuid:5e000000-0000-4000-8000-000000000003

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
flow 3 $(client mqtt) $mqtt_b mqtt event
flow 4 $(client http) $page http request
EOF
"$b/gateway/xgw-broker" -k "$t/secret" -j "$XMPP_COMPONENT" -p "$XMPP_COMPONENT_PORT" \
    -d "$t/registry.db" -f "$t/flows" >"$t/broker.log" 2>&1 &
pids+=($!)

cat >"$t/rules" <<EOF
# read-only SCADA monitoring of one PLC; read-only CoAP sensors and web
# pages; the plant's MQTT telemetry, nothing else
pass request modbus unit 1 function { read-coils, read-discrete-inputs, read-holding-registers, read-input-registers } address 0:999
pass response modbus unit 1
reject with illegal-data-address request modbus
pass request coap code get
pass response coap
reject request coap
pass request http method { GET, HEAD }
pass response http
reject request http
pass event mqtt topic "plant/#"
EOF
gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" "$XMPP_COMPONENT" "$t/rules" "adapter modbus {
	listen 127.0.0.1 port $scada_port
	timeout 1500ms
	route \"unit 1\" to $plc
}
adapter coap {
	listen 127.0.0.1 port $coap_port
	route \"/\" to $sensor
}
adapter mqtt {
	listen 127.0.0.1 port $mqtt_a_port
	route \"plant/#\" to $mqtt_b
	route \"private/#\" to $mqtt_b
}
adapter http {
	listen 127.0.0.1 port $http_port
	route \"/\" to $page
}"
gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" "$XMPP_COMPONENT" "$t/rules" "adapter modbus {
	device $plc host 127.0.0.1 port $plc_port unit 1 timeout 1s
}
adapter coap {
	device $sensor host 127.0.0.1 port $sensor_port timeout 2s
}
adapter mqtt {
	device $mqtt_b host 127.0.0.1 port $mqtt_b_port
}
adapter http {
	device $page host 127.0.0.1 port $www_port timeout 2s
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

wait_for 10 listening "$http_port" || fail "gateway A does not listen for HTTP"
echo "demo: gateway A listens for Modbus/TCP on 127.0.0.1:$scada_port, CoAP on 127.0.0.1:$coap_port and HTTP on"
echo "demo: 127.0.0.1:$http_port, and bridges MQTT from mosquitto A on 127.0.0.1:$mqtt_a_port; behind gateway B, the PLC"
echo "demo: is on 127.0.0.1:$plc_port, the CoAP sensor on 127.0.0.1:$sensor_port, mosquitto B on 127.0.0.1:$mqtt_b_port and"
echo "demo: the web page on 127.0.0.1:$www_port"
echo "demo: status of gateway A:"
"$b/gateway/xgwctl" status -s "$t/a.sock" | sed 's/^/    /'
echo "demo: live verdicts (A = client side, B = device side); Ctrl-C stops"
for g in a b; do
	G=$(echo $g | tr a-z A-Z)
	"$b/gateway/xgwctl" tap -s "$t/$g.sock" | sed -u "s/^/$G  /" &
	pids+=($!)
done

# What arrives on broker B, as an operator there would see it.
mosquitto_sub -h 127.0.0.1 -p "$mqtt_b_port" -t '#' -F 'MQTT at broker B: %t %p' &
pids+=($!)

# The SCADA side: poll four holding registers every second, read the CoAP
# sensor's clock and the device's web page, and publish a temperature on
# broker A (and a private topic, which the policy keeps home); every fifth
# round, try a write of each kind, which the policy rejects.
end=$(( $(date +%s) + ${XGW_DEMO_SECONDS:-1000000000} ))
n=0
while [ "$(date +%s)" -lt "$end" ]; do
	n=$((n + 1))
	out=$(mbpoll -1 -q -m tcp -p "$scada_port" -a 1 -t 4 -r 101 -c 4 127.0.0.1 2>&1 | grep -E '^\[' | tr '\n' ' ')
	echo "SCADA poll $n: holding registers 100..103: $out"
	out=$(coap-client-openssl -B 3 "coap://127.0.0.1:$coap_port/time" 2>&1 | tail -1)
	echo "CoAP GET /time: $out"
	out=$(curl -sS -m 3 "http://127.0.0.1:$http_port/" 2>&1 | sed -n 's/.*<title>\(.*\)<\/title>.*/\1/p')
	echo "HTTP GET /: title \"$out\""
	mosquitto_pub -h 127.0.0.1 -p "$mqtt_a_port" -q 1 -t plant/line1/temperature -m "$((200 + n % 7))e-1"
	mosquitto_pub -h 127.0.0.1 -p "$mqtt_a_port" -q 1 -t private/notes -m "round $n"
	if [ $((n % 5)) -eq 0 ]; then
		out=$(mbpoll -1 -q -m tcp -p "$scada_port" -a 1 -t 4 -r 101 127.0.0.1 42 2>&1 | grep -v '^$' | tail -1)
		echo "SCADA write attempt: $out"
		out=$(coap-client-openssl -B 3 -m put -e 42 "coap://127.0.0.1:$coap_port/time" 2>&1 | tail -1)
		echo "CoAP PUT /time attempt: $out"
		out=$(curl -sS -m 3 -o /dev/null -w '%{http_code}' -X POST -d on=1 "http://127.0.0.1:$http_port/pumps" 2>&1)
		echo "HTTP POST /pumps attempt: $out"
	fi
	sleep 1
done
