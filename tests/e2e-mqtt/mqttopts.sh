#!/bin/bash
# The mqtt block's settings through two gateways (lib-mqtt.sh): Prosody,
# mosquitto A and B (plain), C (TLS, a certificate of the test's CA) and
# D (TLS, a certificate of another CA), python3-paho-mqtt clients
# (clients.py cross: every broker watched, each message seen where it
# should be, once).  The gateways are restarted with a new configuration
# for each part:
#
#   1. topic remapping both ways, MQTT 5, client-id: A's "plant1/" leaves
#      as "site1/plant1/", B's "site1/cmd/" arrives at A as "plant1/cmd/",
#      which A's own route covers: the bridge mark cuts the loop; a topic
#      remapped to nothing is refused
#   2. MQTT 3.1.1 on A's client side and on both device sides: no mark,
#      the prefixes keep the routes apart; B's MQTT 5 properties are
#      dropped on the way into A's 3.1.1 device side, and counted
#   3. A's broker is C, over TLS (client side: OpenSSL; device side:
#      paho ssl://), with a client certificate
#   4. A's broker is D: refused (logged, retried), nothing delivered
#
#   mqttopts.sh XGWD XGWCTL XGW-MQTT CLIENTS.PY SRCDIR
name=mqttopts
. "$(dirname "$0")/lib-mqtt.sh"
mqtt_setup "$@"

# Two CAs; the brokers' certificates name 127.0.0.1; a client certificate.
pki() {
	local d=$t/pki
	mkdir -p "$d"
	for ca in ca other; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -days 2 -subj "/CN=xgw test $ca" \
			-keyout "$d/$ca.key" -out "$d/$ca.pem" 2>/dev/null || return 1
	done
	for leaf in c:ca d:other client:ca; do
		local n=${leaf%%:*} ca=${leaf#*:}
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-subj "/CN=$n" -keyout "$d/$n.key" -out "$d/$n.csr" \
			2>/dev/null || return 1
		printf 'subjectAltName=IP:127.0.0.1\n' >"$d/$n.ext"
		openssl x509 -req -in "$d/$n.csr" -CA "$d/$ca.pem" \
			-CAkey "$d/$ca.key" -CAcreateserial -days 2 \
			-extfile "$d/$n.ext" -out "$d/$n.pem" 2>/dev/null || return 1
	done
	chmod -R a+rX "$d"
}
pki || die "openssl could not make the test certificates"

set -- $(free_ports 4)
port_a=$1 port_b=$2 port_c=$3 port_d=$4
mosquitto_start a "$port_a"
mosquitto_start b "$port_b"
p=$t/pki
mosquitto_start c "$port_c" "$p/ca.pem" "$p/c.pem" "$p/c.key"
mosquitto_start d "$port_d" "$p/other.pem" "$p/d.pem" "$p/d.key"
printf 'pass event mqtt type publish\n' >"$t/rules"

# configure G BLOCK: G's configuration (restart G to use it)
configure() {
	if [ "$1" = a ]; then
		gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" \
			"$USER2_JID" "$t/rules" "$2"
	else
		gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" \
			"$USER1_JID" "$t/rules" "$2"
	fi
}

# B's block in every part: its own broker, commands for A's
b_block() {
	echo "adapter mqtt {
	listen 127.0.0.1 port $port_b
	route \"site1/cmd/#\" to $broker_a
	device $broker_b host 127.0.0.1 port $port_b${1:-}
}"
}

restart() {
	for g in "$@"; do
		[ -n "$(eval echo "\${pid_$g:-}")" ] && gw_stop "$g"
	done
	for g in "$@"; do
		gw_up "$g" connected
	done
}

cross() {
	"$py" "$clients" cross "$@" >"$t/cross.out" 2>&1 ||
		die "$(cat "$t/cross.out")"
	sed "s/^/$name:   /" "$t/cross.out"
}

# 1. remapping, MQTT 5
configure a "adapter mqtt {
	listen 127.0.0.1 port $port_a
	client-id plant1-bridge
	route \"plant1/#\" to $broker_b
	topic out \"plant1/\" \"site1/plant1/\"
	topic out \"plant1/hall/\" \"site1/hall/\"
	topic out \"plant1/gone/\" \"\"
	topic in \"site1/cmd/\" \"plant1/cmd/\"
	device $broker_a host 127.0.0.1 port $port_a
}"
configure b "$(b_block)"
restart b a
grep -q "as plant1-bridge-in" "$t/mosquitto-a.log" &&
	grep -q "as plant1-bridge-out0" "$t/mosquitto-a.log" ||
	die "client-id: mosquitto A saw no plant1-bridge-in and -out0"
ok "client-id: the bridge connects as plant1-bridge-in and plant1-bridge-out0"
cross "$port_a:plant1/temp>$port_b:site1/plant1/temp" \
	"$port_a:plant1/hall/door>$port_b:site1/hall/door" \
	"$port_b:site1/cmd/open>$port_a:plant1/cmd/open" \
	"$port_a:plant1/gone/>-"
grep -q 'publish topic plant1/gone/: not remapped: prefix "plant1/gone/" to "" makes a topic of 0 bytes' "$t/a.log" ||
	die "the empty remapped topic was not refused with a log line"
ok "MQTT 5: remapped both ways, the longest prefix first, no loop; an empty remapped topic refused"

# 2. MQTT 3.1.1 on A's client side, on both device sides
configure a "adapter mqtt {
	listen 127.0.0.1 port $port_a
	version 4
	route \"plant1/data/#\" to $broker_b
	topic out \"plant1/\" \"site1/plant1/\"
	topic in \"site1/cmd/\" \"plant1/cmd/\"
	device $broker_a host 127.0.0.1 port $port_a version 4
}"
configure b "$(b_block " version 4")"
restart a b
grep -q "connected as .* (MQTT 3.1.1)" "$t/a.log" || die "A's client side is not on 3.1.1"
# mosquitto: p2 is 3.1.1, c0 a kept session, c1 a clean one
grep -q -- "-in (p2, c0, k30)" "$t/mosquitto-a.log" &&
	grep -q -- "-out0 (p2, c1, k30)" "$t/mosquitto-a.log" &&
	grep -q -- "-out0 (p2, c1, k30)" "$t/mosquitto-b.log" ||
	die "mosquitto saw no 3.1.1 client side at A or device sides at A and B"
cross --props "$port_a:plant1/data/t>$port_b:site1/plant1/data/t" \
	"$port_b:site1/cmd/stop>$port_a:plant1/cmd/stop"
grep -q "plant1/cmd/stop user properties \[\]" "$t/cross.out" ||
	die "properties reached A's 3.1.1 device side"
grep -q "MQTT 3.1.1 carries no properties; dropped (counted" "$t/a.log" ||
	die "the dropped properties were not counted"
ok "MQTT 3.1.1: both ways, no loop (the prefixes), properties dropped and counted"

# 3. A's broker over TLS
configure a "adapter mqtt {
	listen 127.0.0.1 port $port_c
	tls ca \"$p/ca.pem\" certificate \"$p/client.pem\" key \"$p/client.key\"
	route \"plant1/#\" to $broker_b
	device $broker_a host 127.0.0.1 port $port_c
}"
configure b "$(b_block)"
restart a b
grep -q "connected as .* (MQTT 5, TLS)" "$t/a.log" || die "A is not on TLS"
cross "$port_c@$p/ca.pem:plant1/tls>$port_b:plant1/tls" \
	"$port_b:site1/cmd/tls>$port_c@$p/ca.pem:site1/cmd/tls"
ok "TLS to A's broker: both ways, client side and device side"

# 4. a broker whose certificate another CA signed
configure a "adapter mqtt {
	listen 127.0.0.1 port $port_d
	tls ca \"$p/ca.pem\"
	route \"plant1/#\" to $broker_b
	device $broker_a host 127.0.0.1 port $port_d
}"
gw_stop a
from=$(($(wc -l <"$t/a.log") + 1))
gw_up a
wait_for 10 sh -c "[ \$(tail -n +$from '$t/a.log' | grep -c 'TLS handshake: the broker.s certificate: ') -ge 2 ]" ||
	die "the wrong CA: no two refused handshakes in A's log"
cross "$port_d@$p/other.pem:plant1/wrong>-" \
	"$port_b:site1/cmd/wrong>-"
tail -n +$from "$t/a.log" | grep -q "connected as" &&
	die "A connected to a broker of another CA"
ok "a broker with a certificate of another CA: refused, logged, retried, nothing delivered"
echo "$name: all passed"
