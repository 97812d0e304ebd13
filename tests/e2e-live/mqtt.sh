#!/bin/bash
# xgw-replay --live with MQTT against a fresh mosquitto on loopback
# (anonymous clients allowed, no persistence).  Each expectation is first
# derived from the capture with tshark, independently of xgw's transform:
#
#   - mqtt311-pub-qos2: the client sends CONNECT, PUBLISH (QoS 2), PUBREL
#     and DISCONNECT, the broker answers CONNACK 0, PUBREC, PUBCOMP:
#     mosquitto answers the same, the DISCONNECT has no answer either way;
#   - mqtt5_pub_jpeg_connack134: the captured broker refused the user
#     (reason code 134), mosquitto lets anyone in: one difference, named;
#   - zeek__mqtt: two connections; the broker sends the subscriber two
#     PUBLISHes, one carrying what the other client published, the other a
#     retained message of that public broker that a fresh mosquitto cannot
#     have: one publish matches, one is missing;
#   - mqtt-events-missing-connect: one of its two connections starts after
#     its CONNECT, so it is not replayed.
#
#   mqtt.sh XGW-REPLAY PCAPS SRCDIR
set -u
replay=$(readlink -f "$1") pcaps=$2 src=$(readlink -f "$3")
. "$src/tests/e2e/lib.sh"
. "$src/tests/e2e-live/lib.sh"
test_setup live-mqtt

for c in mosquitto tshark; do
	command -v $c >/dev/null || PATH=$PATH:/usr/sbin command -v $c >/dev/null ||
		die "$c not found (tests/deps.sh)"
done
mosq=$(PATH=$PATH:/usr/sbin command -v mosquitto)
qos2=$(capture mqtt suricata-verify__mqtt311-pub-qos2__input.pcap)
c134=$(capture mqtt suricata-verify__mqtt5_pub_jpeg_connack134.pcap)
zeek=$(capture mqtt zeek__mqtt.pcap)
nocon=$(capture mqtt suricata-verify__mqtt-events-missing-connect__input.pcap)

# tshark's view: "srcport:type" per MQTT packet, and the CONNACK codes
types() { tshark -r "$1" -Y mqtt -T fields -e tcp.srcport -e mqtt.msgtype 2>/dev/null |
	tr '\t' : | tr '\n' ' '; }
[ "$(types "$qos2")" = "38546:1 1883:2 38546:3 1883:5 38546:6 1883:7 38546:14 " ] ||
	die "tshark: $qos2 is not CONNECT, PUBLISH, PUBREL, DISCONNECT: $(types "$qos2")"
[ "$(tshark -r "$c134" -Y mqtt.msgtype==2 -T fields -e mqtt.connack.reason_code 2>/dev/null)" = 134 ] ||
	die "tshark: the captured CONNACK is not 134"
pubs=$(tshark -r "$zeek" -Y mqtt.msgtype==3 -T fields -e tcp.srcport -e mqtt.msg 2>/dev/null)
[ "$(grep -c '^1883' <<<"$pubs")" -eq 2 ] || die "tshark: not two PUBLISHes from the broker"
# of the broker's payloads, those a captured client published
both=$(grep '^1883' <<<"$pubs" | cut -f2 | grep -cxF -f <(grep -v '^1883' <<<"$pubs" | cut -f2))
[ "$both" -eq 1 ] || die "tshark: expected 1 payload relayed, found $both"
[ "$(tshark -r "$nocon" -Y mqtt -T fields -e tcp.stream -e mqtt.msgtype 2>/dev/null |
	awk '$2 == 1 { c[$1] = 1 } { s[$1] = 1 } END { n = 0; for (k in s) if (!(k in c)) n++; print n }')" -eq 1 ] ||
	die "tshark: expected one connection without CONNECT"
ok "tshark's view of the captures, as expected below"

port=$(free_ports 1)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\n' \
	"$port" >"$t/mosquitto.conf"
"$mosq" -c "$t/mosquitto.conf" >"$t/mosquitto.log" 2>&1 &
pids+=($!)
wait_for 10 listening "$port" || die "mosquitto does not listen"
broker=127.0.0.1:$port

live qos2 0 --live "$broker" --pace fast "$qos2"
counts qos2 "match 3, differ 0, timeout 0, silent 1"
has qos2 "exchanges 4 in 1 flows"
has qos2 "captured 0, live 0: match 0, differ 0, missing 0, extra 0; 0 flows without their CONNECT"
ok "QoS 2 publish: CONNACK, PUBREC, PUBCOMP as captured"

live c134 1 --live "$broker" --pace fast "$c134"
counts c134 "match 0, differ 1, timeout 0, silent 2"
has c134 "exchange 1 connect: reason-code: captured 134 (bad-user-name-or-password), live 0 (success)"
lines c134 1 'exchange .*: captured '
ok "the captured broker refused the user, mosquitto did not: one difference"

live zeek 1 --live "$broker" --pace fast --timeout 500 "$zeek"
counts zeek "match 8, differ 0, timeout 0, silent 2"
has zeek "publishes from the server: captured 2, live 1: match 1, differ 0, missing 1, extra 0"
has zeek "publish to SampleTopic: captured, not received"
ok "zeek__mqtt: the relayed PUBLISH matches, the public broker's retained one is missing"

live nocon 0 --live "$broker" --pace fast "$nocon"
counts nocon "match 2, differ 0, timeout 0, silent 1"
has nocon "1 flows without their CONNECT"
ok "a connection captured without its CONNECT is not replayed"

# two runs at once: their client ids differ, so neither takes the other's session
live par1 0 --live "$broker" --pace fast "$qos2" & p1=$!
live par2 0 --live "$broker" --pace fast "$qos2" & p2=$!
wait $p1 || die "par1 failed"
wait $p2 || die "par2 failed"
ids=$(sed -n 's/.*New client connected from .* as \([^ ]*\) .*/\1/p' "$t/mosquitto.log")
[ "$(wc -l <<<"$ids")" -eq 7 ] || die "mosquitto logged $(wc -l <<<"$ids") connections, expected 7"
[ "$(sort <<<"$ids" | uniq -d | wc -l)" -eq 0 ] || die "a client id was used twice: $(sort <<<"$ids" | uniq -d)"
! grep -q "already connected" "$t/mosquitto.log" || die "a client id was taken twice"
ok "two runs at once do not collide"
echo "live-mqtt: all passed"
