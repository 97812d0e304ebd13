# Shared by the MQTT two-gateway tests (bash; sourced after setting $name):
#
#   mqtt_setup XGWD XGWCTL XGW-MQTT CLIENTS.PY SRCDIR
#                           mqtt_start, and python3-paho-mqtt for CLIENTS.PY
#   mqtt_start XGWD XGWCTL XGW-MQTT SRCDIR
#                           arguments, a temporary folder $t, cleanup on
#                           exit, Prosody started, the adapter linked
#   mosquitto_start G PORT [CAFILE CERT KEY]
#                           a mosquitto "G" on 127.0.0.1 PORT, TLS with
#                           the three files
#   gw_start G              xgwd -f $t/G.conf ($pid_G)
#   gw_stop G               stops it and waits
#   gw_up G [connected]     its link is up (and its adapter's broker is)
#   subscribe_b QOS FILTER FORMAT TOPIC
#                           mosquitto_sub on broker B ($port_b) into
#                           $t/got, each message as FORMAT (-F); then a
#                           probe published on broker A ($port_a) to
#                           TOPIC must reach it within 20 s
#   die MSG, ok MSG         tests/e2e/lib.sh's (the gateways' logs shown)
#
# Two gateways: a and b, with the UUIDs $broker_a and $broker_b for
# their brokers' device entries; gw_conf (tests/e2e/lib.sh) writes their
# configurations.
set -u
broker_a=urn:uuid:aaaaaaaa-0000-4000-8000-00000000000a
broker_b=urn:uuid:bbbbbbbb-0000-4000-8000-00000000000b

mqtt_setup() {
	clients=$(readlink -f "$4")
	mqtt_start "$1" "$2" "$3" "$5"
	"$py" -c 'import paho.mqtt.client' 2>/dev/null ||
		die "$py cannot import paho.mqtt (python3-paho-mqtt, tests/deps.sh)"
}

mqtt_start() {
	xgwd=$(readlink -f "$1") xgwctl=$(readlink -f "$2")
	adapter=$(readlink -f "$3") src=$(readlink -f "$4")
	. "$src/tests/e2e/lib.sh"
	test_setup "$name" a.log b.log
	# the adapters run as nobody and read TLS files from here
	chmod 755 "$t"
	command -v mosquitto >/dev/null ||
		die "mosquitto is not installed (tests/deps.sh)"
	prosody_start
	adapter_dir xgw-mqtt="$adapter"
}

# No inflight bound but our receive maximum, no queue limit: the bridge's
# acknowledgements, not mosquitto's defaults, pace the stream.  The lines
# of $mosquitto_extra, when set, end the configuration (a bridge).
mosquitto_start() {
	local g=$1 port=$2
	{
		echo "listener $port 127.0.0.1"
		[ $# -eq 5 ] && printf 'cafile %s\ncertfile %s\nkeyfile %s\n' \
			"$3" "$4" "$5"
		printf 'allow_anonymous true\npersistence false\n'
		printf 'max_inflight_messages 0\nmax_queued_messages 0\n'
		printf 'log_dest stderr\n'
		[ -z "${mosquitto_extra:-}" ] || printf '%s\n' "$mosquitto_extra"
	} >"$t/mosquitto-$g.conf"
	mosquitto -c "$t/mosquitto-$g.conf" >"$t/mosquitto-$g.log" 2>&1 &
	pids+=($!)
	wait_for 10 listening "$port" || die "mosquitto $g does not listen on $port"
}

gw_start() {
	"$xgwd" -v -f "$t/$1.conf" >>"$t/$1.log" 2>&1 &
	pids+=($!)
	eval "pid_$1=$!"
}

gw_stop() {
	local p
	eval "p=\$pid_$1"
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}

# Log lines count from the last start: the log of one gateway grows.
gw_up() {
	local g=$1 from
	touch "$t/$g.log"
	from=$(($(wc -l <"$t/$g.log") + 1))
	gw_start "$g"
	wait_for 20 link_up "$g" || die "gateway $g: link not up"
	[ $# -eq 1 ] && return 0
	wait_for 10 sh -c "tail -n +$from '$t/$g.log' | grep -q 'broker 127.0.0.1 port .*: connected'" ||
		die "gateway $g: the adapter did not connect to its broker"
}

subscribe_b() {
	local qos=$1 filter=$2 format=$3 topic=$4
	mosquitto_sub -h 127.0.0.1 -p "$port_b" -V mqttv5 -q "$qos" -t "$filter" -F "$format" \
		>"$t/got" 2>"$t/sub.err" &
	pids+=($!)
	# the whole path is up when a probe published on A reaches the subscriber
	probe() {
		mosquitto_pub -h 127.0.0.1 -p "$port_a" -q 1 -t "$topic" -m up &&
			sleep 0.3 && grep -q "^$topic" "$t/got"
	}
	wait_for 20 probe || die "no probe crossed from A to the subscriber on B"
}
