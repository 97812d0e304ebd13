#!/bin/bash
# The main job: installs what is needed, builds, and runs the whole thing on
# loopback with a default configuration until Ctrl-C (or XGW_DEMO_SECONDS):
#
#   a SCADA client (mbpoll, polling) -> gateway A (xgwd + xgw-modbus)
#     -> Prosody (XMPP over TLS) -> gateway B (xgwd + xgw-modbus) -> a PLC
#
# Both gateways inspect every stanza against a read-only rule set: reads pass,
# writes are rejected with Modbus exception 02 and never reach the PLC.  The
# live verdicts of both gateways (xgwctl tap) scroll by.  Everything the demo
# starts is stopped on exit.
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

echo "demo: starting Prosody on loopback (site CA and certificates in $t/xmpp/pki)"
"$src/tests/e2e/prosody.sh" start "$t/xmpp" >"$t/prosody.log" 2>&1 ||
	{ echo "demo: Prosody did not start: $(tail -5 "$t/prosody.log")" >&2; exit 1; }
. "$t/xmpp/env"

set -- $(free_ports 2)
plc_port=$1 scada_port=$2
"$b/tests/e2e-modbus/plcsim" -p "$plc_port" -l "$t/plc.log" 2>"$t/plcsim.err" &
pids+=($!)
wait_for 10 listening "$plc_port" || { echo "demo: the PLC simulator did not start" >&2; exit 1; }

mkdir -p "$t/adapters"
ln -s "$b/adapters/modbus/xgw-modbus" "$t/adapters/xgw-modbus"
export XGW_ADAPTER_DIR=$t/adapters
plc=urn:uuid:6f1c2b9a-0c1e-4d53-9b1a-7d2f3e4a5b60
cat >"$t/rules" <<EOF
# read-only SCADA monitoring of one PLC
pass request modbus unit 1 function { read-coils, read-discrete-inputs, read-holding-registers, read-input-registers } address 0:999
pass response modbus unit 1
reject with illegal-data-address request modbus
EOF
gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" "$USER2_JID" "$t/rules" "adapter modbus {
	listen 127.0.0.1 port $scada_port
	timeout 1500ms
	route \"unit 1\" to $plc
}"
gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" "$USER1_JID" "$t/rules" "adapter modbus {
	device $plc host 127.0.0.1 port $plc_port unit 1 timeout 1s
}"
for g in b a; do
	"$b/gateway/xgwd" -f "$t/$g.conf" >"$t/$g.log" 2>&1 &
	pids+=($!)
	wait_for 20 sh -c "'$b/gateway/xgwctl' status -s '$t/$g.sock' | grep -q '^link up'" ||
		{ echo "demo: gateway $g did not come up: $(tail -5 "$t/$g.log")" >&2; exit 1; }
done
wait_for 10 listening "$scada_port" || { echo "demo: gateway A does not listen" >&2; exit 1; }

echo "demo: gateway A listens for Modbus/TCP on 127.0.0.1:$scada_port; the PLC is on 127.0.0.1:$plc_port"
echo "demo: status of gateway A:"
"$b/gateway/xgwctl" status -s "$t/a.sock" | sed 's/^/    /'
echo "demo: live verdicts (A = client side, B = device side); Ctrl-C stops"
for g in a b; do
	G=$(echo $g | tr a-z A-Z)
	"$b/gateway/xgwctl" tap -s "$t/$g.sock" | sed -u "s/^/$G  /" &
	pids+=($!)
done

# The SCADA side: poll four holding registers every second; every fifth
# round, try a write, which the policy rejects.
end=$(( $(date +%s) + ${XGW_DEMO_SECONDS:-1000000000} ))
n=0
while [ "$(date +%s)" -lt "$end" ]; do
	n=$((n + 1))
	out=$(mbpoll -1 -q -m tcp -p "$scada_port" -a 1 -t 4 -r 101 -c 4 127.0.0.1 2>&1 | grep -E '^\[' | tr '\n' ' ')
	echo "SCADA poll $n: holding registers 100..103: $out"
	if [ $((n % 5)) -eq 0 ]; then
		out=$(mbpoll -1 -q -m tcp -p "$scada_port" -a 1 -t 4 -r 101 127.0.0.1 42 2>&1 | grep -v "^$" | tail -1)
		echo "SCADA write attempt: $out"
	fi
	sleep 1
done
