#!/bin/bash
# xgw-replay --live with MQTT through two gateways.  The gateways bridge
# brokers, they carry no client's session: the captures' clients are
# played against mosquitto A, whose answers the report compares (as
# mqtt.sh does straight to a broker), and what they publish crosses:
#
#   xgw-replay --live -> mosquitto A -> xgw-mqtt (A) -> xgwd A -> Prosody
#     -> xgwd B -> xgw-mqtt (B) -> mosquitto B -> mosquitto_sub
#
# A routes "#" to B's broker with `topic out "sister/" "site1/sister/"`,
# B publishes with `topic in "site1/" "north/"`, and both gateways block
# the topic "baz".  The subscriber on B ("#", QoS 2, MQTT 5) must receive
# every PUBLISH the captured clients sent on a connection with its
# CONNECT (the others are not replayed), bar "baz": the topic remapped,
# QoS, retain and payload equal byte for byte, each once, nothing else.
# The expectation comes from the captures through tshark alone:
#
#   - riskyduha-distributed-system__mqtt: 165 QoS 0 on sister/temp, and a
#     subscriber's connection captured without its CONNECT;
#   - mqtt-limit-2: QoS 1 on foo, bar and baz (the denied one);
#   - mqtt5-pub-qos2 and mqtt5-pub-mosquittoprops: MQTT 5, QoS 2 and a
#     QoS 1 with properties, both on topicX; the captured broker answered
#     the latter "no matching subscribers", mosquitto A has one, the
#     bridge: that difference is named in the report.
#
#   mqtt2gw.sh XGW-REPLAY XGWD XGWCTL XGW-MQTT PCAPS SRCDIR
replay=$(readlink -f "$1") pcaps=$5
name=live-mqtt-2gw
. "$(dirname "$0")/../e2e-mqtt/lib-mqtt.sh"
mqtt_start "$2" "$3" "$4" "$6"
. "$src/tests/e2e-live/lib.sh"

command -v tshark >/dev/null || die "tshark not found (tests/deps.sh)"
command -v mosquitto_sub >/dev/null || die "mosquitto_sub not found (tests/deps.sh)"
caps="riskyduha-distributed-system__mqtt.pcap suricata-verify__mqtt-limit-2__input.pcap
	suricata-verify__mqtt5-pub-qos2__input.pcap suricata-verify__mqtt5-pub-mosquittoprops__input.pcap"

# tshark: "topic<TAB>qos<TAB>retain<TAB>payload-hex" of each PUBLISH to
# port 1883 on a TCP stream where the client sent its CONNECT
captured() {
	tshark -r "$1" -Y 'mqtt && tcp.dstport == 1883' -T fields -e tcp.stream \
		-e mqtt.msgtype -e mqtt.topic -e mqtt.qos -e mqtt.retain -e mqtt.msg 2>/dev/null |
		awk -F'\t' -v OFS='\t' '$2 == 1 { c[$1] = 1 } $2 == 3 && ($1 in c) { print $3, $4, $5, $6 }'
}
for c in $caps; do
	captured "$(capture mqtt "$c")"
done >"$t/captured"
[ "$(wc -l <"$t/captured")" -eq 170 ] || die "tshark: $(wc -l <"$t/captured") publishes, expected 170"
[ "$(grep -c $'^baz\t' "$t/captured")" -eq 1 ] || die "tshark: no single publish to baz"
sed -n $'/^baz\t/!s,^site1/,north/,;/^baz\t/!s,^sister/,north/sister/,;/^baz\t/!p' \
	"$t/captured" | sort >"$t/want"
ok "tshark: 170 publishes replayed, 169 admitted: $(cut -f1,2 "$t/want" | sort | uniq -c | tr -s ' \t\n' ' ')"

set -- $(free_ports 2)
port_a=$1 port_b=$2
mosquitto_start a "$port_a"
mosquitto_start b "$port_b"
printf 'block event mqtt topic "baz"\npass event mqtt type publish\n' >"$t/rules"
gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" "$USER2_JID" "$t/rules" "adapter mqtt {
	listen 127.0.0.1 port $port_a
	route \"#\" to $broker_b
	topic out \"sister/\" \"site1/sister/\"
}"
gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" "$USER1_JID" "$t/rules" "adapter mqtt {
	device $broker_b host 127.0.0.1 port $port_b
	topic in \"site1/\" \"north/\"
}"
gw_up b
gw_up a connected

subscribe_b 2 '#' '%t\t%q\t%r\t%x' probe
ok "two brokers, two gateways linked through Prosody; a probe crossed"

live risky 0 --live 127.0.0.1:$port_a --pace fast "$(capture mqtt riskyduha-distributed-system__mqtt.pcap)"
counts risky "match 1, differ 0, timeout 0, silent 165"
has risky "1 flows without their CONNECT"
live limit 0 --live 127.0.0.1:$port_a --pace fast "$(capture mqtt suricata-verify__mqtt-limit-2__input.pcap)"
counts limit "match 5, differ 0, timeout 0, silent 1"
has limit "publishes from the server: captured 1, live 1: match 1, differ 0, missing 0, extra 0"
live qos2 0 --live 127.0.0.1:$port_a --pace fast "$(capture mqtt suricata-verify__mqtt5-pub-qos2__input.pcap)"
counts qos2 "match 3, differ 0, timeout 0, silent 1"
# The captured broker had no subscriber for topicX; mosquitto A has one: the bridge.
live props 1 --live 127.0.0.1:$port_a --pace fast "$(capture mqtt suricata-verify__mqtt5-pub-mosquittoprops__input.pcap)"
counts props "match 1, differ 1, timeout 0, silent 1"
has props "exchange 2 publish: reason-code: captured 16 (no-matching-subscribers), live 0 (success)"
lines props 1 'exchange .*: captured '
ok "mosquitto A answered as captured, bar the PUBACK of a topic the bridge subscribes to"

arrived() { [ "$(grep -vc '^probe' "$t/got")" -ge 169 ]; }
wait_for 30 arrived || die "$(grep -vc '^probe' "$t/got") of 169 publishes reached B"
sleep 1	# for anything late that should not come at all
grep -v '^probe' "$t/got" | sort >"$t/seen"
! grep -q $'^baz\t' "$t/seen" || die "the denied topic baz reached B"
grep -q 'rules:1: .*denied: block event mqtt topic "baz"' "$t/a.log" ||
	die "gateway A logged no denial by the rule at rules:1"
diff "$t/want" "$t/seen" >"$t/diff" ||
	die "B's subscriber did not get what the captures published:$(printf '\n'; head -20 "$t/diff")"
ok "B's subscriber got the 169 admitted publishes, remapped, byte for byte, once; baz never"
! grep -E 'Sanitizer|runtime error' "$t/a.log" "$t/b.log" ||
	die "a sanitizer reported an error (above)"
echo "$name: all passed"
