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
#   mqtt2gw.sh XGWD XGWCTL XGW-MQTT CLIENTS.PY SRCDIR
set -u
xgwd=$(readlink -f "$1") xgwctl=$(readlink -f "$2") adapter=$(readlink -f "$3")
clients=$(readlink -f "$4") src=$(readlink -f "$5")
. "$src/tests/e2e/lib.sh"
t=$(mktemp -d /tmp/xgw-mqtt2gw.XXXXXX)
pids=()
fail=0

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$src/tests/e2e/prosody.sh" stop "$t/xmpp" >/dev/null 2>&1
	[ $fail -eq 0 ] && rm -rf "$t"
}
trap cleanup EXIT

die() {
	echo "mqtt2gw: FAIL: $*" >&2
	for g in a b; do
		[ -f "$t/$g.log" ] && { echo "--- $g.log (tail)" >&2; tail -25 "$t/$g.log" >&2; }
	done
	echo "mqtt2gw: logs kept in $t" >&2
	fail=1
	exit 1
}
ok() { echo "mqtt2gw: ok: $*"; }
link_up() { "$xgwctl" status -s "$t/$1.sock" | grep -q '^link up'; }

command -v mosquitto >/dev/null || die "mosquitto is not installed (tests/deps.sh)"
"$py" -c 'import paho.mqtt.client' 2>/dev/null || die "$py cannot import paho.mqtt (python3-paho-mqtt, tests/deps.sh)"
"$src/tests/e2e/prosody.sh" start "$t/xmpp" >"$t/prosody.log" 2>&1 ||
	die "Prosody did not start: $(tail -5 "$t/prosody.log")"
. "$t/xmpp/env"

set -- $(free_ports 2)
port_a=$1 port_b=$2
for g in a b; do
	eval "port=\$port_$g"
	# no inflight bound but our receive maximum, no queue limit: the
	# bridge's acknowledgements, not mosquitto's defaults, pace the stream
	cat >"$t/mosquitto-$g.conf" <<EOC
listener $port 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 0
max_queued_messages 0
log_dest stderr
EOC
	mosquitto -c "$t/mosquitto-$g.conf" >"$t/mosquitto-$g.log" 2>&1 &
	pids+=($!)
	wait_for 10 listening "$port" || die "mosquitto $g does not listen on $port"
done

mkdir -p "$t/adapters"
ln -s "$adapter" "$t/adapters/xgw-mqtt"
export XGW_ADAPTER_DIR=$t/adapters
broker_a=urn:uuid:aaaaaaaa-0000-4000-8000-00000000000a
broker_b=urn:uuid:bbbbbbbb-0000-4000-8000-00000000000b

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

start_gw() {
	"$xgwd" -v -f "$t/$1.conf" >>"$t/$1.log" 2>&1 &
	pids+=($!)
	eval "pid_$1=$!"
}
for g in b a; do
	start_gw $g
	wait_for 20 link_up $g || die "gateway $g: link not up"
done
for g in a b; do
	wait_for 10 grep -q "broker 127.0.0.1 port .*: connected" "$t/$g.log" ||
		die "gateway $g: the adapter did not connect to its broker"
done
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
start_gw b
wait_for 20 link_up b || die "gateway B: link not up after the restart"
wait "$bulk"
rc=$?
sed 's/^/mqtt2gw:   /' "$t/bulk.out"
[ $rc -eq 0 ] || die "bulk: $(grep FAIL "$t/bulk.out")"
ok "$n QoS 1 messages with xgwd B killed mid-stream: all delivered ($(grep -o "[0-9]* repeated" "$t/bulk.out"))"
echo "mqtt2gw: all passed"
