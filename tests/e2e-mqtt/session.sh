#!/bin/bash
# The session xgw-mqtt asks of its local broker, on the wire (lib-mqtt.sh):
# mqttrelay.py sits between gateway A's adapter and mosquitto A and
# records every packet each way; its own parser reads them back.
#
#   mosquitto_pub -> mosquitto A <-> mqttrelay.py <-> xgw-mqtt (A) <-> xgwd A
#     -> Prosody -> xgwd B -> xgw-mqtt (B) -> mosquitto B -> mosquitto_sub
#
#   1. MQTT 5: the CONNECT carries clean start 0, the block's
#      session-expiry (5s) and receive-maximum (8), and a maximum packet
#      size of 128 KiB
#   2. with gateway B stopped, gateway A spools and acknowledges; with
#      xgwd A paused as well (SIGSTOP: nothing is taken), mosquitto has at
#      most 8 QoS 1 PUBLISHes unacknowledged toward the adapter, and
#      reaches 8; once both are back, all 40 arrive at B, once each
#   3. the adapter killed, its broker kept from it (the relay holds) while
#      200 messages are published, back within the expiry: session
#      present, the 200 delivered at B, each once, on one connection
#      (mosquitto 2.0.11 sends past the receive maximum as it releases
#      its queue: the adapter holds the excess rather than reconnect)
#   4. the same, back after the expiry: no session, those never arrive
#   5. MQTT 3.1.1 (version 4): no properties; clean session 0 for a
#      session-expiry above 0, 1 for session-expiry 0s (README); with
#      xgwd A paused mosquitto sends all it has (3.1.1 has no receive
#      maximum), the adapter stops reading at 8 held without losing its
#      connection, and everything arrives once xgwd is back
#
#   session.sh XGWD XGWCTL XGW-MQTT RELAY.PY SRCDIR
name=mqtt-session
. "$(dirname "$0")/lib-mqtt.sh"
relay=$(readlink -f "$4")
mqtt_start "$1" "$2" "$3" "$5"
command -v mosquitto_sub >/dev/null || die "mosquitto_sub not found (tests/deps.sh)"

set -- $(free_ports 3)
port_a=$1 port_b=$2 port_r=$3
mosquitto_start a "$port_a"
mosquitto_start b "$port_b"
mkdir "$t/relay"
"$py" "$relay" relay "$port_r" "$port_a" "$t/relay" 2>"$t/relay.err" &
pids+=($!)
wait_for 10 listening "$port_r" || die "the relay does not listen: $(cat "$t/relay.err")"
printf 'pass event mqtt type publish\n' >"$t/rules"

# a_conf [SETTINGS]: gateway A's adapter, through the relay
a_conf() {
	gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" "$USER2_JID" "$t/rules" "adapter mqtt {
	listen 127.0.0.1 port $port_r
	client-id gwa
	route \"s/#\" to $broker_b
	$1
}"
}
a_conf "session-expiry 5s
	receive-maximum 8"
gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" "$USER1_JID" "$t/rules" "adapter mqtt {
	device $broker_b host 127.0.0.1 port $port_b
}"
gw_up b
gw_up a connected
subscribe_b 1 's/#' '%t %p' s/probe

connect() { "$py" "$relay" connect "$t/relay" "$1"; }
inflight() { "$py" "$relay" inflight "$t/relay" "$@"; }
# pub FROM TO: QoS 1 messages "s/n FROM".."s/n TO" on A, one connection
pub() {
	seq "$1" "$2" | mosquitto_pub -h 127.0.0.1 -p "$port_a" -q 1 -t s/n -l ||
		die "mosquitto_pub $1..$2 failed"
}
# arrived FROM TO: each of them reached B, once
arrived() {
	[ "$(grep -c '^s/n ' "$t/got")" -ge $(($2 - $1 + 1)) ] || return 1
	[ "$(grep '^s/n ' "$t/got" | cut -d' ' -f2 | sort -n | uniq -c |
		awk -v a="$1" -v b="$2" '$1 == 1 && $2 >= a && $2 <= b' | wc -l)" -eq $(($2 - $1 + 1)) ]
}
# wait_arrived FROM TO MSG
wait_arrived() {
	wait_for 20 arrived "$1" "$2" ||
		die "$3: not each of $1..$2 once at B: $(grep -c '^s/n ' "$t/got") lines"
}
# adapter_pid G: the pid xgwctl status gives gateway G's mqtt adapter
adapter_pid() { status "$1" | sed -n 's/^adapter mqtt pid \([0-9]*\) .*/\1/p'; }
restarted() { local p=$(adapter_pid a); [ -n "$p" ] && [ "$p" != "$1" ]; }
connacks() { grep -c ' b 2 ' "$t/relay/packets"; }
answered() { [ "$(connacks)" -gt "$1" ]; }
# away DELAY-S FROM TO: the adapter killed and kept from its broker while
# FROM..TO are published DELAY-S seconds later; then let back, and its
# CONNECT answered
away() {
	local old=$(adapter_pid a) n=$(connacks)
	: >"$t/relay/hold"
	kill -KILL "$old"
	wait_for 10 restarted "$old" || die "xgwd A did not restart its adapter"
	sleep "$1"
	pub "$2" "$3"
	rm "$t/relay/hold"
	wait_for 10 answered "$n" || die "the restarted adapter got no CONNACK"
}

# 1. MQTT 5
c=$(connect 1)
[ "$c" = "level 5 clean 0 keepalive 30 client-id gwa-in session-expiry 5 receive-maximum 8 packet-max 131072 session-present 0" ] ||
	die "the first CONNECT and CONNACK: $c"
ok "MQTT 5 CONNECT: clean start 0, session expiry 5 s, receive maximum 8, packets up to 128 KiB"

# paused FIRST LAST: publishes FIRST..LAST while xgwd A is stopped; $m is
# what the relay saw unacknowledged toward the adapter meanwhile
paused() {
	local from=$(($(wc -l <"$t/relay/packets") + 1))

	kill -STOP "$pid_a"
	pub "$1" "$2"
	sleep 2
	m=$(inflight "$from")
	kill -CONT "$pid_a"
}

# 2. The receive maximum, held
gw_stop b
pub 1 20
wait_for 10 sh -c "\"$py\" \"$relay\" inflight \"$t/relay\" | grep -q ' now 0\$'" ||
	die "gateway B stopped: A did not acknowledge what it spooled: $(inflight)"
# mosquitto 2.0.11 may pass the maximum when it releases what it queued
# (adapters/mqtt/README.md): the bound is read from here to the release.
paused 21 40
[ "$m" = "max 8 now 8" ] || die "with xgwd A paused: $m, expected max 8 now 8"
ok "gateway B stopped: A spools and acknowledges; xgwd A paused too: 8 unacknowledged, never more"
gw_up b
wait_arrived 1 40 "after the pause"
ok "both gateways back: 40 of 40 at B, once each"

# 3. and 4. The session, kept within its expiry, gone after it
log_from=$(($(wc -l <"$t/a.log") + 1))
away 0 41 240
c=$(connect -1)
[ "${c##* }" = 1 ] || die "back within the expiry: the CONNACK has no session: $c"
wait_arrived 41 240 "the session kept"
! tail -n +"$log_from" "$t/a.log" | grep 'connection lost' ||
	die "the session kept: the adapter lost its connection (above)"
ok "the adapter killed and back within the expiry: session present, 200 queued messages delivered once, one connection"
away 7 241 250
c=$(connect -1)
[ "${c##* }" = 0 ] || die "back after the expiry: the broker kept the session: $c"
sleep 2
! grep -q '^s/n \(24[1-9]\|250\)$' "$t/got" || die "messages of an expired session arrived"
ok "back after the expiry: no session, the messages published meanwhile are gone"

# 5. MQTT 3.1.1
gw_stop a
a_conf "version 4
	receive-maximum 8"
log_from=$(($(wc -l <"$t/a.log") + 1))
gw_up a connected
c=$(connect -1)
[ "${c% session-present *}" = "level 4 clean 0 keepalive 30 client-id gwa-in session-expiry - receive-maximum - packet-max -" ] ||
	die "3.1.1, the default session-expiry: $c"
# A 3.1.1 broker cannot be told: with nothing taken, mosquitto sends all
# 20; the adapter stops reading at 8 held, and keeps its connection.
paused 251 270
[ "$m" = "max 20 now 20" ] || die "3.1.1, xgwd A paused: $m, expected max 20 now 20"
wait_arrived 251 270 "3.1.1, after the pause"
! tail -n +"$log_from" "$t/a.log" | grep 'connection lost' ||
	die "3.1.1: the adapter lost its connection (above)"
ok "MQTT 3.1.1, xgwd A paused: 20 unacknowledged, the adapter reads 8, keeps its connection; 20 of 20 at B"
gw_stop a
a_conf "version 4
	session-expiry 0s"
gw_up a connected
c=$(connect -1)
[ "${c% session-present *}" = "level 4 clean 1 keepalive 30 client-id gwa-in session-expiry - receive-maximum - packet-max -" ] ||
	die "3.1.1, session-expiry 0s: $c"
ok "MQTT 3.1.1: clean session 0 by default, 1 with session-expiry 0s; no properties"
! grep -E 'Sanitizer|runtime error' "$t/a.log" "$t/b.log" ||
	die "a sanitizer reported an error (above)"
echo "$name: all passed"
