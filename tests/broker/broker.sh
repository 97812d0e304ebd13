#!/bin/bash
# xgw-broker end to end, against a real Prosody on loopback (tests/e2e/prosody.sh),
# with scripted libstrophe clients (xmpptest) posing as gateways and an operator:
#   1. a corrupt or unwritable registry is a clear error at start
#   2. registration by certificate (SASL EXTERNAL, pki-issued) and by SCRAM with
#      a binding; a gateway claiming a UUID it does not own is refused
#   3. disco#info/#items and an endpoint's metadata
#   4. relay of requests, responses and acks on an active flow; everything
#      outside a flow refused with the right error; operator flow activation
#      and deactivation pushed to both gateways; counters
#   5. a broker restart keeps registry and flows; the broker reconnects after
#      a Prosody restart (the libstrophe component workaround, each time)
#   6. revocation: Prosody refuses a revoked certificate at login (CRL), and
#      the broker refuses the registration of a session that predates it
#
#   broker.sh XGW-BROKER XMPPTEST PKITOOL SRCDIR
set -u
broker=$1 xmpptest=$2 xgwctl=$3 src=$4
. "$src/tests/e2e/lib.sh"
test_setup broker broker.log

# run NAME: the script $t/NAME.script through xmpptest
run() {
	"$xmpptest" -s 127.0.0.1 -p "$XMPP_STARTTLS_PORT" -a "$CA" "$t/$1.script" \
		>"$t/$1.out" 2>&1 || die "script $1: $(tail -15 "$t/$1.out")"
}

connected() { [ "$(grep -c 'connected to' "$t/broker.log")" -ge "$1" ]; }

start_broker() {
	"$broker" -v -k "$t/secret" -p "$XMPP_COMPONENT_PORT" -d "$t/registry.db" \
		-f "$t/flows" -c "$XMPP_CCERT_DOMAIN" -x "$pki" >>"$t/broker.log" 2>&1 &
	broker_pid=$!
	pids+=("$broker_pid")
	wait_for 10 connected "$1" || die "the broker did not connect as a component"
	# without the STACK-NOTES workaround libstrophe 0.12.2 crashes right here
	sleep 0.5
	kill -0 "$broker_pid" 2>/dev/null || die "the broker died once connected"
}

stops() { grep -c '^<6>xgw-broker: stopped' "$t/broker.log"; }
more_stops() { [ "$(stops)" -gt "$1" ]; }

# the broker may not be our child (restarted from a script): wait for its log
stop_broker() {
	local n
	n=$(stops)
	kill "$broker_pid" || die "the broker is gone before SIGTERM"
	broker_pid=
	wait_for 10 more_stops "$n" || die "the broker did not stop on SIGTERM"
}

prosody_start
pki=$t/xmpp/pki		# the harness's CA: the pki tool issues with it

G1=urn:uuid:11111111-1111-4111-8111-111111111111	# gw1, certificate
G2=urn:uuid:22222222-2222-4222-8222-222222222222	# gw2, certificate
G3=urn:uuid:33333333-3333-4333-8333-333333333333	# bob, SCRAM, bound in the flows file
G4=urn:uuid:44444444-4444-4444-8444-444444444444	# revoked before login
G5=urn:uuid:55555555-5555-4555-8555-555555555555	# revoked during its session
E1=urn:uuid:aaaaaaaa-0000-4000-8000-000000000001	# modbus client side on gw1
E2=urn:uuid:aaaaaaaa-0000-4000-8000-000000000002	# modbus PLC on gw2
E3=urn:uuid:aaaaaaaa-0000-4000-8000-000000000003	# mqtt sensor on bob
N1=11111111111141118111111111111111 N2=22222222222242228222222222222222
C=$XMPP_COMPONENT

for g in $G1 $G2 $G4 $G5; do
	"$xgwctl" pki issue "$pki" "$g" "$XMPP_CCERT_DOMAIN" >>"$t/pki.log" 2>&1 ||
		die "pki issue $g: $(tail -3 "$t/pki.log")"
done
"$xgwctl" pki revoke "$pki" "$G4" >>"$t/pki.log" 2>&1 || die "pki revoke: $(tail -3 "$t/pki.log")"
cert() { echo "cert $pki/${1#urn:uuid:}.pem $pki/${1#urn:uuid:}.key"; }

# Prosody honours a CRL when it is in the cafile and crl_check is on (LuaSec
# verifyext); the harness's config gets both for the certificate host.
sed -i -e "s|cafile = \"$pki/ca.pem\";|cafile = \"$pki/ca-crl.pem\";|" \
	-e 's|verifyext = { lsec_ignore_purpose = false };|verifyext = { "crl_check"; lsec_ignore_purpose = false };|' \
	"$t/xmpp/prosody.cfg.lua"
grep -q '"crl_check"' "$t/xmpp/prosody.cfg.lua" && grep -q ca-crl.pem "$t/xmpp/prosody.cfg.lua" ||
	die "the harness's Prosody config changed shape: cannot add the CRL"
"$src/tests/e2e/prosody.sh" restart "$t/xmpp" >/dev/null || die "restarting Prosody with the CRL"

echo "$XMPP_COMPONENT_SECRET" >"$t/secret"
cat >"$t/flows" <<EOF
# operators, SCRAM bindings, flows active at start
operator $USER1_JID
bind $G3 $USER2_JID
flow 5 $E1 $E2 modbus request
EOF

# --- 1. the registry refuses to start on a bad database -----------------------
echo "this is not a database, just text long enough to fill a header page......" \
	>"$t/corrupt.db"
out=$("$broker" -n -k "$t/secret" -d "$t/corrupt.db" 2>&1) && die "a corrupt registry was accepted"
echo "$out" | grep -q "corrupt.db: file is not a database" || die "corrupt registry: unclear error: $out"
"$broker" -n -k "$t/secret" -d "$t/ro.db" >/dev/null 2>&1 || die "broker -n cannot create a registry"
chmod 0444 "$t/ro.db"
chmod 0711 "$t"
asuser=()	# root writes anything: check as nobody
[ "$(id -u)" = 0 ] && asuser=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
out=$("${asuser[@]}" "$broker" -n -k /dev/stdin -d "$t/ro.db" 2>&1 <"$t/secret") &&
	die "an unwritable registry was accepted"
echo "$out" | grep -q "ro.db: attempt to write a readonly database" ||
	die "unwritable registry: unclear error: $out"
out=$("$broker" -n -k "$t/secret" -d "$t/no/such/dir.db" 2>&1) && die "a registry in a missing directory was accepted"
echo "$out" | grep -q "dir.db: unable to open database file" || die "missing directory: unclear error: $out"
printf 'operator alice\n' >"$t/bad-flows"
out=$("$broker" -n -k "$t/secret" -d "$t/x.db" -f "$t/bad-flows" 2>&1) && die "a bad flows file was accepted"
echo "$out" | grep -q "bad-flows:1: operator alice: expected a bare JID" || die "bad flows file: unclear error: $out"
printf 'pass request modbus\nfrobnicate\n' >"$t/bad.rules"
out=$("$broker" -n -k "$t/secret" -d "$t/x.db" -r "$t/bad.rules" 2>&1) && die "a bad rules file was accepted"
echo "$out" | grep -q "bad.rules:2:1: expected pass" || die "bad rules file: unclear error: $out"
ok "corrupt, unwritable and unreachable registries, a bad flows file and bad rules are clear errors at start"

start_broker 1
ok "the broker connected as component $C (stream-management workaround in place)"

# --- 2, 3, 4: registration, disco, metadata, relay, flows ----------------------
cat >"$t/main.script" <<EOF
login g1 $(cert $G1)
login g2 $(cert $G2)
login bob scram $USER2_JID $USER2_PASSWORD
login alice scram $USER1_JID $USER1_PASSWORD

# registration: by certificate (the JID's node is the UUID's hex) and by binding
g1 send <iq type="set" id="r1" to="$C"><register xmlns="urn:xgw:broker:1" gateway="$G1"><endpoint uuid="$E1" protocol="modbus" name="scada"/></register></iq>
g1 expect id="r1" && type="result" && <flow id="5" && role="from-adapter"
g2 send <iq type="set" id="r2" to="$C"><register xmlns="urn:xgw:broker:1" gateway="$G2"><endpoint uuid="$E2" protocol="modbus" name="plc-3"><function name="read-holding-registers"/><function name="write-single-register"/><point name="boiler-temp" type="int16" unit="Cel" access="r"/><point name="setpoint" type="int16" unit="Cel" access="rw"/></endpoint></register></iq>
g2 expect id="r2" && type="result" && <flow id="5" && role="to-endpoint"
bob send <iq type="set" id="r3" to="$C"><register xmlns="urn:xgw:broker:1" gateway="$G3"><endpoint uuid="$E3" protocol="mqtt" name="sensors"><point name="humidity" type="float" unit="%RH"/></endpoint></register></iq>
bob expect id="r3" && type="result"

# claims of UUIDs the sender does not own
g2 send <iq type="set" id="x1" to="$C"><register xmlns="urn:xgw:broker:1" gateway="$G1"/></iq>
g2 expect id="x1" && type="error" && <not-authorized && does not own gateway $G1
bob send <iq type="set" id="x2" to="$C"><register xmlns="urn:xgw:broker:1" gateway="$G1"/></iq>
bob expect id="x2" && type="error" && <not-authorized
alice send <iq type="set" id="x3" to="$C"><register xmlns="urn:xgw:broker:1" gateway="$G3"/></iq>
alice expect id="x3" && type="error" && <not-authorized
g2 send <iq type="set" id="x4" to="$C"><register xmlns="urn:xgw:broker:1" gateway="$G2"><endpoint uuid="$E1" protocol="modbus"/></register></iq>
g2 expect id="x4" && type="error" && <conflict && registered by gateway $G1
g1 send <iq type="set" id="x5" to="$C"><register xmlns="urn:xgw:broker:1" gateway="$G1"><endpoint uuid="$E1" protocol="gopher"/></register></iq>
g1 expect id="x5" && type="error" && <bad-request && unknown protocol
g1 send <iq type="set" id="r1b" to="$C"><register xmlns="urn:xgw:broker:1" gateway="$G1"><endpoint uuid="$E1" protocol="modbus" name="scada"/></register></iq>
g1 expect id="r1b" && type="result"

# discovery and metadata
g1 send <iq type="get" id="d1" to="$C"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>
g1 expect id="d1" && type="result" && category="component" && var="urn:xgw:broker:1"
g1 send <iq type="get" id="d2" to="$C"><query xmlns="http://jabber.org/protocol/disco#items"/></iq>
g1 expect id="d2" && node="$G1" && node="$G2" && node="$G3"
g1 send <iq type="get" id="d3" to="$C"><query xmlns="http://jabber.org/protocol/disco#items" node="$G2"/></iq>
g1 expect id="d3" && node="$E2" && name="modbus plc-3"
g1 send <iq type="get" id="d4" to="$C"><query xmlns="http://jabber.org/protocol/disco#info" node="$E2"/></iq>
g1 expect id="d4" && type="result" && name="endpoint modbus plc-3"
g1 send <iq type="get" id="m1" to="$C"><query xmlns="urn:xgw:broker:1" endpoint="$E2"/></iq>
g1 expect id="m1" && gateway="$G2" && name="read-holding-registers" && name="boiler-temp" && unit="Cel" && access="rw"
g1 send <iq type="get" id="m2" to="$C"><query xmlns="urn:xgw:broker:1" endpoint="urn:uuid:aaaaaaaa-0000-4000-8000-0000000000ff"/></iq>
g1 expect id="m2" && type="error" && <item-not-found
alice send <iq type="get" id="m3" to="$C"><query xmlns="urn:xgw:broker:1" endpoint="$E2"/></iq>
alice expect id="m3" && type="result" && boiler-temp

# relay on flow 5: request, response, acks back to the sender
g1 send <message to="$C" type="normal"><pdu xmlns="urn:xgw:1" src="$E1" dst="$E2" flow="5" route="5" seq="1" dir="request"><modbus xmlns="urn:xgw:modbus:1" transaction="1" unit="1"/></pdu></message>
g2 expect <pdu && from="$N1@$C" && seq="1" && dir="request"
g2 send <message to="$N1@$C" type="normal"><pdu xmlns="urn:xgw:1" src="$E2" dst="$E1" flow="5" route="5" seq="1" dir="response"><modbus xmlns="urn:xgw:modbus:1" transaction="1" unit="1"/></pdu></message>
g1 expect <pdu && from="$N2@$C" && dir="response"
g2 send <message to="$N1@$C"><ack xmlns="urn:xgw:1" seq="1"/></message>
g1 expect <ack && from="$N2@$C" && seq="1"

# refused: with the right condition, and nothing reaches the other side
g1 send <message to="$C"><pdu xmlns="urn:xgw:1" src="$E1" dst="$E2" flow="6" route="6" seq="2" dir="request"><modbus xmlns="urn:xgw:modbus:1"/></pdu></message>
g1 expect type="error" && <policy-violation && flow 6: no such flow
g1 send <message to="$C"><pdu xmlns="urn:xgw:1" src="$E1" dst="$E2" flow="5" route="5" seq="3" dir="event"><modbus xmlns="urn:xgw:modbus:1"/></pdu></message>
g1 expect type="error" && <policy-violation && flow 5 carries events from $E2 to $E1
g1 send <message to="$C"><pdu xmlns="urn:xgw:1" src="$E1" dst="$E2" flow="5" route="5" seq="4" dir="request"><coap xmlns="urn:xgw:coap:1"/></pdu></message>
g1 expect type="error" && <policy-violation && carries modbus, not coap
g1 send <message to="$C"><pdu xmlns="urn:xgw:1" src="$E2" dst="$E1" flow="5" route="5" seq="5" dir="request"><modbus xmlns="urn:xgw:modbus:1"/></pdu></message>
g1 expect type="error" && <not-authorized && is not an endpoint of gateway $G1
g1 send <message to="$C"><pdu xmlns="urn:xgw:1" src="$E1" dst="urn:uuid:aaaaaaaa-0000-4000-8000-0000000000ff" flow="5" route="5" seq="6" dir="request"><modbus xmlns="urn:xgw:modbus:1"/></pdu></message>
g1 expect type="error" && <item-not-found && is not a registered endpoint
alice send <message to="$C"><pdu xmlns="urn:xgw:1" src="$E1" dst="$E2" flow="5" route="5" seq="7" dir="request"><modbus xmlns="urn:xgw:modbus:1"/></pdu></message>
alice expect type="error" && <not-authorized && is not a registered gateway
bob send <message to="$N2@$C"><ack xmlns="urn:xgw:1" seq="9"/></message>
bob expect type="error" && <policy-violation && no active flow joins
g1 send <message to="$C"><body>hello</body></message>
g1 expect type="error" && <service-unavailable
g2 quiet 300

# the operator activates an event flow from bob's sensor to gw1; both are told
bob send <iq type="set" id="f0" to="$C"><flow xmlns="urn:xgw:broker:1" action="activate" src="$E3" dst="$E1" protocol="mqtt" dir="event"/></iq>
bob expect id="f0" && type="error" && <not-authorized && is not an operator
alice send <iq type="set" id="f1" to="$C"><flow xmlns="urn:xgw:broker:1" action="activate" id="7" src="$E3" dst="$E1" protocol="mqtt" dir="event"/></iq>
alice expect id="f1" && type="result" && id="7" && state="active"
bob expect <flows && id="7" && role="from-adapter" && state="active"
g1 expect <flows && id="7" && role="to-endpoint" && state="active"
bob send <message to="$C"><pdu xmlns="urn:xgw:1" src="$E3" dst="$E1" flow="7" route="7" seq="1" dir="event"><mqtt xmlns="urn:xgw:mqtt:1"/></pdu></message>
g1 expect <pdu && flow="7" && from="33333333333343338333333333333333@$C"
g1 send <message to="33333333333343338333333333333333@$C"><ack xmlns="urn:xgw:1" seq="1"/></message>
bob expect <ack && seq="1" && from="$N1@$C"
alice send <iq type="set" id="f2" to="$C"><flow xmlns="urn:xgw:broker:1" action="deactivate" id="7"/></iq>
alice expect id="f2" && type="result" && state="inactive"
bob expect <flows && id="7" && state="inactive"
g1 expect <flows && id="7" && state="inactive"
bob send <message to="$C"><pdu xmlns="urn:xgw:1" src="$E3" dst="$E1" flow="7" route="7" seq="2" dir="event"><mqtt xmlns="urn:xgw:mqtt:1"/></pdu></message>
bob expect type="error" && <policy-violation && flow 7 is not active
alice send <iq type="set" id="f3" to="$C"><flow xmlns="urn:xgw:broker:1" action="deactivate" id="99"/></iq>
alice expect id="f3" && type="error" && <item-not-found
# flow 8 (id chosen by the broker) stays active across the restart below
alice send <iq type="set" id="f4" to="$C"><flow xmlns="urn:xgw:broker:1" action="activate" src="$E3" dst="$E1" protocol="mqtt" dir="event"/></iq>
alice expect id="f4" && type="result" && id="8" && state="active"
g1 expect <flows && id="8"
bob expect <flows && id="8"
g1 quiet 300

alice send <iq type="get" id="s1" to="$C"><stats xmlns="urn:xgw:broker:1"/></iq>
alice expect id="s1" && relayed="3" && acks="2" && not-authorized="6" && policy-violation="5" && item-not-found="3" && conflict="1"
EOF
run main
ok "registration (SASL EXTERNAL and SCRAM), refused claims, disco, metadata, relay, refusals, operator flows, counters"

# --- 5. restarts ---------------------------------------------------------------
# The gateways keep their sessions while the broker restarts: the registry
# (sessions, endpoints) and the flows (5 from the file, 8 by the operator, 7
# deactivated) must all be back without a new registration.
echo "$broker_pid" >"$t/broker.pid"
cat >"$t/restart.script" <<EOF
login g1x $(cert $G1)
login g2x $(cert $G2)
login bobx scram $USER2_JID $USER2_PASSWORD
g1x send <iq type="set" id="r1" to="$C"><register xmlns="urn:xgw:broker:1" gateway="$G1"><endpoint uuid="$E1" protocol="modbus" name="scada"/></register></iq>
g1x expect id="r1" && type="result"
g2x send <iq type="set" id="r2" to="$C"><register xmlns="urn:xgw:broker:1" gateway="$G2"><endpoint uuid="$E2" protocol="modbus" name="plc-3"><point name="boiler-temp" type="int16" unit="Cel"/></endpoint></register></iq>
g2x expect id="r2" && type="result"
exec kill $(cat "$t/broker.pid") && until grep -q stopped $t/broker.log; do sleep 0.1; done
exec $broker -v -k $t/secret -p $XMPP_COMPONENT_PORT -d $t/registry.db -f $t/flows -c $XMPP_CCERT_DOMAIN -x $pki >>$t/broker.log 2>&1 & echo \$! >$t/broker.pid; sleep 1
g1x send <iq type="get" id="m1" to="$C"><query xmlns="urn:xgw:broker:1" endpoint="$E2"/></iq>
g1x expect id="m1" && type="result" && boiler-temp
g1x send <message to="$C"><pdu xmlns="urn:xgw:1" src="$E1" dst="$E2" flow="5" route="5" seq="1" dir="request"><modbus xmlns="urn:xgw:modbus:1"/></pdu></message>
g2x expect <pdu && flow="5"
bobx send <message to="$C"><pdu xmlns="urn:xgw:1" src="$E3" dst="$E1" flow="8" route="8" seq="1" dir="event"><mqtt xmlns="urn:xgw:mqtt:1"/></pdu></message>
g1x expect <pdu && flow="8"
bobx send <message to="$C"><pdu xmlns="urn:xgw:1" src="$E3" dst="$E1" flow="7" route="7" seq="2" dir="event"><mqtt xmlns="urn:xgw:mqtt:1"/></pdu></message>
bobx expect type="error" && flow 7 is not active
EOF
run restart
broker_pid=$(cat "$t/broker.pid")
pids+=("$broker_pid")	# started by the script, not our child
grep -q "stopped" "$t/broker.log" || die "the first broker did not stop cleanly"
ok "a broker restart keeps gateways, endpoints, sessions and flows (file, operator, deactivated)"

"$src/tests/e2e/prosody.sh" restart "$t/xmpp" >/dev/null || die "restarting Prosody"
wait_for 40 connected 3 || die "the broker did not reconnect after a Prosody restart"
cat >"$t/reconnect.script" <<EOF
login g1 $(cert $G1)
login g2 $(cert $G2)
g2 send <iq type="set" id="r2" to="$C"><register xmlns="urn:xgw:broker:1" gateway="$G2"><endpoint uuid="$E2" protocol="modbus"/></register></iq>
g2 expect id="r2" && type="result" && <flow id="5"
g1 send <message to="$C"><pdu xmlns="urn:xgw:1" src="$E1" dst="$E2" flow="5" route="5" seq="1" dir="request"><modbus xmlns="urn:xgw:modbus:1"/></pdu></message>
g2 expect <pdu && flow="5"
EOF
run reconnect
ok "the broker reconnects after a Prosody restart and relays again"

# --- 6. revocation ---------------------------------------------------------------
cat >"$t/revoke.script" <<EOF
refused g4 $(cert $G4)
login g5 $(cert $G5)
exec $xgwctl pki revoke $pki $G5 >/dev/null
g5 send <iq type="set" id="r5" to="$C"><register xmlns="urn:xgw:broker:1" gateway="$G5"/></iq>
g5 expect id="r5" && type="error" && <not-authorized && its certificates are revoked
EOF
run revoke
grep -q "certificate revoked" "$PROSODY_LOG" || die "Prosody's log does not say why g4 was refused"
ok "a revoked certificate is refused at login (Prosody, CRL) and at registration (broker)"

stop_broker
grep -q "component $C disconnected" "$t/broker.log" || die "no clean disconnect on SIGTERM"
ok "SIGTERM: clean disconnect and stop"
sleep 0.5	# a sanitizer's exit report comes after "stopped"
! grep -E 'Sanitizer|runtime error' "$t/broker.log" >&2 || die "sanitizer reports in broker.log"
