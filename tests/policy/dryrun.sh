#!/bin/sh
# Dry runs of rule sets on real captures: what xgw-replay --policy passes
# and denies must equal counts that tshark derives on its own from the
# same captures.
#
#   dryrun.sh REPLAY PCAPS
set -u
replay=$1 pcaps=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
command -v tshark >/dev/null || { echo "dryrun: tshark is not installed (tests/deps.sh installs it)" >&2; exit 1; }

# One row per PDU over the captures: QUERIES is "FILTER|FIELD FIELD..."
# pairs separated by ";".  tshark gives a frame's PDUs as comma lists; the
# lists are zipped so that each row holds one PDU's values.
tshark_rows() {
	queries=$1
	shift
	echo "$queries" | tr ';' '\n' | while IFS='|' read -r filter fields; do
		args=""
		for x in $fields; do args="$args -e $x"; done
		for f in "$@"; do
			# shellcheck disable=SC2086
			tshark -n -r "$f" -Y "$filter" -T fields -E occurrence=a \
			    -E aggregator=, -E separator=' ' $args 2>/dev/null
		done
	done | awk '{
		n = 1
		for (i = 1; i <= NF; i++) { k[i] = split($i, v, ","); if (k[i] > n) n = k[i] }
		for (j = 1; j <= n; j++) {
			row = ""
			for (i = 1; i <= NF; i++) { split($i, v, ","); row = row (i > 1 ? " " : "") (k[i] > 1 ? v[j] : v[1]) }
			print row
		}
	}'
}

# Sum of KEY=N over xgw-replay's summary lines.
replay_sum() {
	key=$1 rules=$2 maps=$3
	shift 3
	for f in "$@"; do
		# shellcheck disable=SC2086
		"$replay" --summary-tsv --policy "$rules" $maps "$f"
	done | tr '\t' '\n' | sed -n "s/^$key=//p" | awk '{ s += $1 } END { print s + 0 }'
}

# check NAME RULES QUERIES AWK-CONDITION CAPTURE...: the condition, over a
# row's values $1..$n, says which PDUs the rules must pass.
check() {
	name=$1 rules=$2 queries=$3 cond=$4
	shift 4
	printf '%s\n' "$rules" >"$tmp/$name.rules"
	tshark_rows "$queries" "$@" >"$tmp/$name.rows"
	want_all=$(wc -l <"$tmp/$name.rows")
	want_pass=$(awk "$cond" "$tmp/$name.rows" | wc -l)
	got_pass=$(replay_sum pass "$tmp/$name.rules" "" "$@")
	got_all=$(replay_sum pdus "$tmp/$name.rules" "" "$@")
	got_deny=$(( $(replay_sum block "$tmp/$name.rules" "" "$@") + $(replay_sum reject "$tmp/$name.rules" "" "$@") ))
	if [ "$want_pass" -eq 0 ] || [ "$want_pass" -eq "$want_all" ]; then
		echo "dryrun: $name: tshark finds $want_pass of $want_all to pass: the case tests nothing" >&2
		status=1
	elif [ "$got_pass" -ne "$want_pass" ] || [ "$got_all" -ne "$want_all" ] ||
	    [ $((got_pass + got_deny)) -ne "$got_all" ]; then
		echo "dryrun: $name: pass $got_pass of $got_all (denied $got_deny), tshark says pass $want_pass of $want_all" >&2
		status=1
	else
		echo "dryrun: $name: pass $got_pass, deny $got_deny of $got_all, as tshark counts"
	fi
}

m=$pcaps/modbus
check modbus-read-only \
    'pass request modbus function { read-coils, read-input-registers }' \
    'mbtcp|tcp.dstport modbus.func_code' '$1 == 502 && ($2 == 1 || $2 == 4)' \
    "$m/iti-ics-security-tools__ModbusTCP.pcap" "$m/iti-ics-security-tools__modbus_test.pcap" \
    "$m/iti-ics-security-tools__modbus_test_2.pcap" "$m/zeek__modbusSmall.pcap" \
    "$m/lemay-modbus-dataset__CnC_uploading_exe_modbus_6RTU_with_operate.pcap"
check modbus-responses-only 'pass response modbus' \
    'mbtcp|tcp.srcport modbus.func_code' '$1 == 502' \
    "$m/iti-ics-security-tools__ModbusTCP.pcap" "$m/zeek__modbusSmall.pcap"
# captures with one ADU a segment, so that the address fields line up
check modbus-addresses \
    'pass request modbus function read-holding-registers address 0:199' \
    'mbtcp && tcp.dstport == 502 && modbus.func_code == 3|modbus.func_code modbus.reference_num modbus.word_cnt;mbtcp && !(tcp.dstport == 502 && modbus.func_code == 3)|modbus.func_code' \
    'NF == 3 && $2 + $3 <= 200' \
    "$m/iti-ics-security-tools__modbus_test_2.pcap" \
    "$m/lemay-modbus-dataset__CnC_uploading_exe_modbus_6RTU_with_operate.pcap"

q=$pcaps/mqtt
check mqtt-publish 'pass mqtt type publish' 'mqtt|mqtt.msgtype' '$1 == 3' \
    "$q/riskyduha-distributed-system__mqtt.pcap" "$q/suricata-verify__mqtt311-pub-qos1__input.pcap" \
    "$q/suricata-verify__mqtt5-pub-mosquittoprops__input.pcap" "$q/zeek__mqtt.pcap"
check mqtt-topic 'pass mqtt type publish topic "sister/+"
block mqtt type publish' 'mqtt|mqtt.msgtype mqtt.topic' '$1 == 3 && $2 ~ /^sister\/[^\/]+$/' \
    "$q/riskyduha-distributed-system__mqtt.pcap" "$q/reseau-mqtt__mqtt.pcap"

c=$pcaps/coap
check coap-get 'pass coap code get' 'coap|coap.code' '$1 == 1' \
    "$c/ttproto__TD_COAP_BLOCK_01_PASS.pcap" "$c/ttproto__TD_COAP_OBS_01_PASS_With_Mixed_TCP.pcap" \
    "$c/ttproto__TD_COAP_CORE_02_PASS_MULTIPLETIMES.pcap"

h=$pcaps/http
check http-get 'pass request http method GET
pass response http' 'http.request|http.request.method;http.response|http.response.code' \
    '$1 == "GET" || $1 ~ /^[0-9]+$/' \
    "$h/zeek__get.pcap" "$h/zeek__pipelined-requests.pcap" "$h/zeek__http-body-match.pcap"
exit $status
