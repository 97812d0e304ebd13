#!/bin/bash
# Events from one gateway to two far gateways through the Service Broker:
#
#   gateway A -> Prosody -> xgw-broker -> Prosody -> gateway B (even events)
#                                                 -> gateway C (odd events)
#
# Every gateway runs the test adapter as xgw-modbus.  A's sends events
# 1, 2, 3, ... from a device endpoint of A's, alternately to an endpoint on
# B (even numbers, flow 1) and one on C (odd numbers, flow 2); B's and C's
# record what they are handed.  Checks only what can be seen from outside:
#   1. 2,000 events: B gets exactly the even ones and C the odd ones, each
#      once, in increasing order, none missing; A's spool drains (depth 0).
#   2. 4,000 more, and C's xgwd is killed (SIGKILL) mid-stream: A holds
#      C's lane back (its log and `lane ... held N` say so) and B gets all
#      its events while C is down; then C is restarted, A releases the lane,
#      in the end B and C again hold exactly their events, in order.  A
#      receiver hands events on before it records its place, so C's
#      adapter may see the last ones before the kill again after it: those
#      repeats are counted and printed, and allowed only there.  A's spool
#      drains.
#
#   broker3gw.sh XGWD XGWCTL TESTADAPTER XGW-BROKER SRCDIR
set -u
xgwd=$(readlink -f "$1") xgwctl=$(readlink -f "$2") testadapter=$(readlink -f "$3")
broker=$(readlink -f "$4") src=$(readlink -f "$5")
. "$src/tests/e2e/lib.sh"
test_setup broker3gw a.log b.log c.log broker.log

prosody_start
GA=urn:uuid:a0000000-0000-4000-8000-00000000000a
GB=urn:uuid:b0000000-0000-4000-8000-00000000000b
GC=urn:uuid:c0000000-0000-4000-8000-00000000000c
# the test adapter's source; a device of A's, so that A registers it
sensor=urn:uuid:6f1c2b9a-0c1e-4d53-9b1a-7d2f3e4a5b60
at_b=urn:uuid:b1111111-1111-4111-8111-111111111111
at_c=urn:uuid:c2222222-2222-4222-8222-222222222222
port=$(free_ports 1)	# nothing listens: the test adapter never connects

echo "$XMPP_COMPONENT_SECRET" >"$t/secret"
cat >"$t/flows" <<EOF
bind $GA $USER1_JID
bind $GB $USER2_JID
bind $GC $USER3_JID
flow 1 $sensor $at_b modbus event
flow 2 $sensor $at_c modbus event
EOF
"$broker" -v -k "$t/secret" -j "$XMPP_COMPONENT" -p "$XMPP_COMPONENT_PORT" \
    -d "$t/registry.db" -f "$t/flows" >"$t/broker.log" 2>&1 &
pids+=($!)

adapter_dir xgw-modbus="$testadapter"
echo 'pass event modbus' >"$t/rules"
# conf G UUID JID PASSWORD DEVICE: gateway G, its adapter serving DEVICE
conf() {
	gw_conf "$t/$1.conf" "$1" "$t" "$3" "$4" "$XMPP_COMPONENT" "$t/rules" "adapter modbus {
	device $5 host 127.0.0.1 port $port unit 1
}"
	sed -i "1i gateway $2" "$t/$1.conf"
}
conf a "$GA" "$USER1_JID" "$USER1_PASSWORD" "$sensor"
conf b "$GB" "$USER2_JID" "$USER2_PASSWORD" "$at_b"
conf c "$GC" "$USER3_JID" "$USER3_PASSWORD" "$at_c"

registrations() { grep -c "broker: registered" "$t/$1.log"; }
registered() { [ "$(registrations "$1")" -ge "$2" ]; }
has_flows() { [ "$(status a | grep -c "^flow [12] modbus event $sensor -> .* active")" = 2 ]; }
count() { grep -c '^event ' "$t/$1.record" 2>/dev/null; }
has() { [ "$(count "$1")" -ge "$2" ]; }
# the last event G was handed is N or later
reached() { [ "$(grep '^event ' "$t/$1.record" | tail -1 | cut -d' ' -f2)" -ge "$2" ]; }
# the events A's adapter is to send, 1..N
ask() { echo "$1" >"$t/events.new" && mv "$t/events.new" "$t/events"; }
drained() { [ "$(field a spool depth)" = 0 ]; }

ask 0
gateway_start b XGW_TEST_RECORD="$t/b.record"
gateway_start c XGW_TEST_RECORD="$t/c.record"
gateway_start a XGW_TEST_EVENTS=@"$t/events" XGW_TEST_DSTS="$at_b $at_c"
for g in a b c; do
	wait_for 30 registered $g 1 ||
		die "gateway ${g^^} did not register with the broker"
done
wait_for 10 has_flows || die "A did not learn flows 1 and 2: $(status a | grep '^flow')"
ok "three gateways registered; A holds flows 1 (to B) and 2 (to C)"

# check G LINE FROM TO [LIFE]: G's events, from the LINEth on, are the events
# FROM..TO meant for G (even ones for B, odd ones for C), once each, in
# increasing order.  With LIFE, G's xgwd was killed after the first LIFE of
# them: the rest, its second life, is checked on its own and may repeat
# events of the first, counted in $repeats.  Anything else is added to
# $problems, the first few named.
check() {
	local g=$1 line=$2 from=$3 to=$4 life=${5:-0} parity=0 out
	[ "$g" = c ] && parity=1
	out=$(grep '^event ' "$t/$g.record" | tail -n +"$line" | awk -v g="${g^^}" \
	    -v from="$from" -v to="$to" -v par="$parity" -v first="$life" '
	function bad(msg) { if (++nbad <= 5) print msg " at " g }
	{
		n = $2 + 0; line++
		life = first && line > first ? 2 : 1
		if (n < from || n > to || n % 2 != par) {
			bad(sprintf("event %d, not meant for %s,", n, g)); next
		}
		if (n <= last[life])
			bad(sprintf("event %d after event %d", n, last[life]))
		last[life] = n
		if (n in seen && life == 2 && seen[n] == 1)
			repeats++
		else if (n in seen)
			bad(sprintf("event %d twice", n))
		seen[n] = life
	}
	END {
		for (n = from + (from % 2 != par); n <= to; n += 2)
			if (!(n in seen) && ++nmiss <= 10)
				missing = missing " " n
		if (nmiss)
			bad(sprintf("%d of %d events missing (the first:%s), %d recorded",
			    nmiss, int((to - from) / 2) + 1, missing, line))
		if (nbad > 5)
			print nbad - 5 " more problems"
		if (nbad)
			exit 1
		print repeats + 0
	}') && repeats=$out || problems+="${out//$'\n'/; }; "
}
# check_both LINE-B LINE-C FROM TO [LIFE-C]: check B and C, then die of
# the problems of both, with A's spool line
check_both() {
	problems=
	check b "$1" "$3" "$4"
	check c "$2" "$3" "$4" "${5:-}"
	[ -z "$problems" ] || die "${problems%; }; A's $(status a | grep '^spool')"
}
ms() { echo $(($(date +%s%N) / 1000000)); }

# --- 1. events alternating between B and C ---------------------------------------
ask 2000
begin=$(ms)
wait_for 40 eval 'reached b 2000 && reached c 1999'
took=$(($(ms) - begin))
check_both 1 1 1 2000
wait_for 10 drained || die "A's spool did not drain: $(status a | grep '^spool')"
ok "2,000 events: B has the 1,000 even ones, C the 1,000 odd ones, once each, in order, in $took ms; A's spool drained (acked $(field a spool acked))"
lines_b=$(count b) lines_c=$(count c)

# --- 2. C killed and restarted mid-stream ---------------------------------------------
ask 6000
wait_for 30 has c $((lines_c + 300)) || die "C has $(($(count c) - lines_c)) of the next batch's events after 30 s"
adapter_c=$(status c | awk '$1 == "adapter" && $2 == "modbus" { print $4 }')
at_kill=$(count b)
kill -9 "$pid_c"
wait "$pid_c" 2>/dev/null
# its adapter ends when xgwd's socket closes: then the record is C's first life
wait_for 5 eval '! kill -0 '"$adapter_c" || die "C's adapter (pid $adapter_c) outlived its xgwd"
first_life=$(($(count c) - lines_c))
[ "$first_life" -lt 2000 ] || die "C had all 2,000 of its events before it was killed: not mid-stream"
# B while C is down: A holds C's lane back once its oldest event has waited
# 10 s, and B's events go on, all of them
held_c() { [ "$(status a | awk -v d="$at_c" '$1 == "lane" && $2 == d { print $8 }')" -gt 0 ] 2>/dev/null; }
wait_for 30 held_c || die "A did not hold C's lane back: $(status a | grep '^lane')"
wait_for 40 reached b 6000 ||
	die "B has $(($(count b) - lines_b)) of its 2,000 while C is down (C's lane held back: $(status a | grep "^lane $at_c"))"
while_down=$(($(count b) - at_kill))
grep -q "for $at_c unacknowledged for 10s: its lane held back" "$t/a.log" ||
	die "A's log does not say why C's lane is held back"
ok "C killed after $first_life of its 2,000; A held C's lane back and B got all its $while_down others while C was down"
regs=$(registrations c)
gateway_start c XGW_TEST_RECORD="$t/c.record"
wait_for 30 registered c $((regs + 1)) || die "C did not register again after its restart"
begin=$(ms)
wait_for 40 reached c 5999 || die "C has $(($(count c) - lines_c)) of its 2,000 40 s after its restart"
took=$(($(ms) - begin))
grep -q "lane $at_c acknowledged again: released" "$t/a.log" ||
	die "A's log does not say C's lane was released"
check_both $((lines_b + 1)) $((lines_c + 1)) 2001 6000 "$first_life"
wait_for 10 drained || die "A's spool did not drain: $(status a | grep '^spool')"
ok "4,000 more: B has its 2,000, C its 2,000 ($repeats repeated after the SIGKILL), in order, $took ms after C's restart; A's spool drained (acked $(field a spool acked))"
echo "broker3gw: all passed"
