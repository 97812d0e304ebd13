#!/bin/sh
# The main job's own test: runs tests/demo.sh on this build for a few rounds
# and checks what it shows: each protocol crossing both gateways, the
# policy's refusals answered in each protocol's terms, and a topic the
# policy keeps home never reaching the far broker.
#
#   demo.sh BUILD-DIR SOURCE-DIR
set -u
b=$1 src=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
XGW_DEMO_BUILD=$b XGW_DEMO_SECONDS=${XGW_DEMO_SECONDS:-14} bash "$src/tests/demo.sh" >"$out" 2>&1
rc=$?
fails=0
expect() {
	if grep -qE "$1" "$out"; then
		echo "ok: $2"
	else
		echo "FAIL: $2 (no line matching: $1)"
		fails=$((fails + 1))
	fi
}
[ "$rc" -eq 0 ] || { echo "FAIL: the demo exited $rc"; fails=$((fails + 1)); }
expect '^SCADA poll [0-9]+: holding registers 100\.\.103: \[101\]:' "Modbus reads cross both gateways"
expect '^SCADA write attempt: .*Illegal data address' "a Modbus write is refused with exception 02"
expect '^CoAP GET /time: [A-Z][a-z]{2} [0-9]' "the CoAP sensor's clock is read"
expect '^CoAP PUT /time attempt: 4\.03' "a CoAP PUT is refused with 4.03"
expect '^HTTP GET /: title "Pump station 7: status"' "the device's web page is read"
expect '^HTTP POST /pumps attempt: 403' "an HTTP POST is refused with 403"
expect '^MQTT at broker B: plant/line1/temperature [0-9]+e-1' "the sensor's topic reaches broker B"
expect '^B  in .*verdict=pass' "gateway B's verdicts are tapped"
expect '^demo: stopping' "the demo stops what it started"
expect '^A  out .* mqtt/publish .*verdict=block rule=default' "gateway A blocks the private topic"
if grep -q '^MQTT at broker B: private/' "$out"; then
	echo "FAIL: a topic the policy keeps home reached broker B"
	fails=$((fails + 1))
else
	echo "ok: private/notes never reaches broker B"
fi
if [ "$fails" -ne 0 ]; then
	echo "--- demo output (last 40 lines)"
	tail -40 "$out"
	exit 1
fi
