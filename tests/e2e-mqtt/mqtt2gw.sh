#!/bin/bash
# MQTT through two gateways, both directions at once:
#
#   clients -> mosquitto A <-> xgw-mqtt (A) <-> xgwd A -> Prosody (STARTTLS)
#     -> xgwd B <-> xgw-mqtt (B) <-> mosquitto B -> clients
#
# Each gateway's adapter subscribes on its own broker (listen, route
# "sensors/#" and "denied/#" to the other's broker UUID) and publishes what
# comes from afar there (device).  Checks (clients.py): QoS 0/1/2,
# retained, MQTT 5 properties, both directions on the same filter without
# loops, a topic the policy denies never appears at B; then 10,000 QoS 1
# messages with xgwd B killed (SIGKILL) and restarted mid-stream: all
# delivered (repeats are counted and printed: QoS 1 is at least once).
#
#   mqtt2gw.sh XGWD XGWCTL XGW-MQTT CLIENTS.PY SRCDIR (lib-mqtt.sh)
name=mqtt2gw
. "$(dirname "$0")/lib-mqtt.sh"
mqtt_setup "$@"

set -- $(free_ports 2)
port_a=$1 port_b=$2
mosquitto_start a "$port_a"
mosquitto_start b "$port_b"

cat >"$t/rules" <<EOF
block event mqtt topic "denied/#"
pass event mqtt type publish
EOF

gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" "$USER2_JID" "$t/rules" "adapter mqtt {
	listen 127.0.0.1 port $port_a
	route \"sensors/#\" to $broker_b
	route \"bulk/#\" to $broker_b
	route \"denied/#\" to $broker_b
	device $broker_a host 127.0.0.1 port $port_a
}"
gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" "$USER1_JID" "$t/rules" "adapter mqtt {
	listen 127.0.0.1 port $port_b
	route \"sensors/#\" to $broker_a
	device $broker_b host 127.0.0.1 port $port_b
}"

gw_up b connected
gw_up a connected
ok "two brokers, two gateways linked through Prosody, both adapters connected"

"$py" "$clients" basic "$port_a" "$port_b" >"$t/basic.out" 2>&1 ||
	die "$(cat "$t/basic.out")"
sed 's/^/mqtt2gw:   /' "$t/basic.out"
ok "QoS 0/1/2, retained, MQTT 5 properties, both directions, no loops, denied topic"

n=10000
"$py" "$clients" bulk "$port_a" "$port_b" $n "$t/bulk.seen" >"$t/bulk.out" 2>&1 &
bulk=$!
wait_for 60 sh -c "[ \$(wc -l <'$t/bulk.seen') -ge 3000 ]" ||
	die "bulk: fewer than 3,000 messages at B within 60s: $(cat "$t/bulk.out")"
kill -KILL "$pid_b"
echo "mqtt2gw:   xgwd B killed after $(wc -l <"$t/bulk.seen") messages"
gw_up b
wait "$bulk"
rc=$?
sed 's/^/mqtt2gw:   /' "$t/bulk.out"
[ $rc -eq 0 ] || die "bulk: $(grep FAIL "$t/bulk.out")"
ok "$n QoS 1 messages with xgwd B killed mid-stream: all delivered ($(grep -o "[0-9]* repeated" "$t/bulk.out"))"
echo "mqtt2gw: all passed"
