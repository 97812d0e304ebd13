#!/bin/bash
# MQTT messages/s and end-to-end latency through the whole path
#
#   mqttload (publisher) -> mosquitto A -> xgw-mqtt A -> xgwd A -> Prosody
#     -> xgw-broker -> Prosody -> xgwd B -> xgw-mqtt B -> mosquitto B
#     -> mqttload (subscriber)
#
# against two baselines measured in the same run, on the same machine:
#   bridge  mosquitto's own bridge between the same two brokers (a
#           "connection" on broker A: topic bridge/# out, QoS 1, which
#           keeps a QoS 0 message at QoS 0)
#   echo    two bare libstrophe c2s connections (xmppecho) through the
#           same Prosody and a bare relay component in the broker's place
#           (xmpprelay): the stanza gateway A sends for the same PUBLISH,
#           one way, acknowledged every 64 as gateway B does
#
#   tests/bench/mqtt_path.sh [BUILD-DIR]
#
# Environment: BENCH_COUNT (2000 messages a run), BENCH_WARMUP (200
# unmeasured messages before each run), BENCH_RUNS (3; the table gives
# medians), BENCH_WINDOW (100 messages published and not yet arrived; the
# echo keeps as many stanzas unanswered), BENCH_QOS ("0 1"), BENCH_SIZES
# ("64 1024" bytes of payload).
#
# The start-up is the MQTT end-to-end tests' (tests/e2e-mqtt/lib-mqtt.sh);
# Prosody logs at "info" and the gateways register with xgw-broker, which
# relays one active event flow.  Latency is one way for all three:
# publish (or send) to arrival, on one clock in one process.  Reports the
# medians and the ratios path/echo and path/bridge per QoS and size, the
# CPU of each process per kind of run, and each process's peak RSS.  Exit
# 1 when a run fails or loses messages.  Machines are noisy: trust the
# ratios.
set -u
. "$(dirname "$0")/lib.sh"
bench_env mqtt_path 2000 200 gateway/xgwd gateway/xgwctl gateway/xgw-broker \
	adapters/mqtt/xgw-mqtt tests/bench/mqttload tests/bench/xmppecho tests/bench/xmpprelay
window=${BENCH_WINDOW:-100}
qos_list=${BENCH_QOS:-0 1}
sizes=${BENCH_SIZES:-64 1024}
bench_numbers "$window" $qos_list $sizes
mqttload=$build/tests/bench/mqttload

name=$bench_name
. "$top/tests/e2e-mqtt/lib-mqtt.sh"
mqtt_setup "$build/gateway/xgwd" "$build/gateway/xgwctl" "$build/adapters/mqtt/xgw-mqtt" \
	"$top/tests/e2e-mqtt/clients.py" "$top"
bench_prosody
report_proc prosody "$(cat "$t/xmpp/prosody.pid")"

# shellcheck disable=SC2046
set -- $(free_ports 2)
port_a=$1 port_b=$2
mosquitto_start b "$port_b"
report_proc mosquitto-B "${pids[-1]}"
# broker A bridges bridge/# to broker B: the "bridge" baseline
mosquitto_extra="connection bench-bridge
address 127.0.0.1:$port_b
remote_clientid bench-bridge
bridge_protocol_version mqttv311
cleansession true
try_private false
topic bridge/# out 1" mosquitto_start a "$port_a"
report_proc mosquitto-A "${pids[-1]}"
wait_for 30 grep -q 'as bench-bridge' "$t/mosquitto-b.log" ||
	die "broker A's bridge did not connect to broker B: $(tail -3 "$t/mosquitto-a.log")"

GA=urn:uuid:a0000000-0000-4000-8000-00000000000a
GB=urn:uuid:b0000000-0000-4000-8000-00000000000b
echo "pass event mqtt type publish" >"$t/rules"
gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" "$XMPP_COMPONENT" "$t/rules" "adapter mqtt {
	listen 127.0.0.1 port $port_a
	route \"bulk/#\" to $broker_b
}"
gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" "$XMPP_COMPONENT" "$t/rules" "adapter mqtt {
	device $broker_b host 127.0.0.1 port $port_b
}"
sed -i "1i gateway $GA" "$t/a.conf"
sed -i "1i gateway $GB" "$t/b.conf"
bench_broker "$GA" "$GB" "1 $(endpoint_uuid "$GA" mqtt) $broker_b mqtt event"
gw_up b
gw_up a connected
bench_registered 1
report_gateways xgw-mqtt
bench_echo
hwm_all >"$t/hwm.start"

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for _ in $(seq "$runs"); do
	for q in $qos_list; do
		for s in $sizes; do
			c=q$q/$s
			load=("$mqttload" -a "$port_a" -b "$port_b" -q "$q" -s "$s" -n "$count"
				-w "$warmup" -W "$window")
			measure path "$c" "${load[@]}" -t bulk/bench
			measure bridge "$c" "${load[@]}" -t bridge/bench
			measure echo "$c" echo_send -P mqtt -Q "$q" -b "$s" -c "$window" -n "$count" \
				-w "$warmup" -r echo2@localhost -K echo2-secret
		done
	done
done

echo
echo "MQTT publish A -> subscribe B; $count messages a run after $warmup warm-up, $window in flight;"
echo "median of $runs runs; load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "Prosody $(dpkg-query -W -f '${Version}' prosody 2>/dev/null) STARTTLS, mosquitto" \
	"$(dpkg-query -W -f '${Version}' mosquitto 2>/dev/null); $(nproc) CPUs; latency one way"
printf '%-7s | %8s %8s %8s | %9s %11s | %15s %15s %15s\n' "qos/B" "path/s" "bridge/s" "echo/s" \
	path/echo path/bridge "path p50/p99us" "bridge p50/p99" "echo p50/p99"
for q in $qos_list; do
	for s in $sizes; do
		c=q$q/$s
		p=$(fig path "$c" 3) b=$(fig bridge "$c" 3) e=$(fig echo "$c" 3)
		lat() { printf '%s/%s' "$(fig "$1" "$c" 4)" "$(fig "$1" "$c" 5)"; }
		printf '%-7s | %8.0f %8.0f %8.0f | %9s %11s | %15s %15s %15s\n' "$q/$s" "$p" "$b" "$e" \
			"$(pct "$p" "$e")" "$(pct "$p" "$b")" "$(lat path)" "$(lat bridge)" "$(lat echo)"
	done
done
echo
cpu_table path bridge echo
echo
rss_table
errors=$(errors_total)
[ "$errors" -eq 0 ] || die "$errors messages lost or damaged (above)"
