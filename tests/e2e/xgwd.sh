#!/bin/bash
# xgwd end to end, against a real Prosody on loopback:
#   1. 10,000 sequenced events from gateway A to gateway B while Prosody is
#      stopped and restarted twice and A is killed with SIGKILL once: B
#      delivers every event exactly once, in order.
#   2. an adapter killed is restarted; the other adapter is not touched.
#   3. an adapter sending a bad frame is cut off and restarted; xgwd lives.
#   4. a full spool refuses events and tells the adapter.
#   5. a bad rules file on reload changes nothing; a good one is taken.
#
#   xgwd.sh XGWD XGWCTL TESTADAPTER SRCDIR
set -u
xgwd=$(readlink -f "$1") xgwctl=$(readlink -f "$2") testadapter=$(readlink -f "$3") src=$(readlink -f "$4")
. "$src/tests/e2e/lib.sh"
test_setup xgwd a.log b.log c.log

delivered() { [ "$(grep -c '^event ' "$t/b.record" 2>/dev/null)" -ge "$1" ]; }

prosody_start
adapter_dir xgw-modbus="$testadapter" xgw-coap="$testadapter"

cat >"$t/rules" <<EOF
pass event modbus
pass request modbus
pass response modbus
EOF

# conf NAME JID PASSWORD PEER-JID [SPOOL-MAX]
conf() {
	cat >"$t/$1.conf" <<EOF
state-dir "$t/$1.state"
user "root"
control "$t/$1.sock"
rules "$t/rules"
spool "$t/$1.spool" max ${5:-64M}
xmpp {
	server "127.0.0.1" port $XMPP_STARTTLS_PORT tls starttls
	ca "$CA"
	jid "$2" password "$3"
	broker "$4"
	ping 5s
	window 500
}
adapter modbus {
	listen 127.0.0.1 port 15020
}
adapter coap {
	listen 127.0.0.1 port 15683
}
EOF
}

conf a "$USER1_JID" "$USER1_PASSWORD" "$USER2_JID"
conf b "$USER2_JID" "$USER2_PASSWORD" "$USER1_JID"
"$xgwd" -n -f "$t/a.conf" >/dev/null || die "xgwd -n refuses the test configuration"

# --- 1. 10,000 events through two Prosody restarts and a SIGKILL -------------
gateway_start b XGW_TEST_RECORD="$t/b.record"
wait_for 20 link_up b || die "gateway B: link not up: $(status b | head -3)"
gateway_start a XGW_TEST_EVENTS=10000 XGW_TEST_STATE="$t/a.adapter-state"
wait_for 20 link_up a || die "gateway A: link not up"
wait_for 30 delivered 500 || die "no events delivered to B"

"$src/tests/e2e/prosody.sh" stop "$t/xmpp" >/dev/null || die "stopping Prosody"
sleep 1
depth1=$(field a spool depth)
sleep 1
depth2=$(field a spool depth)
[ "${depth2:-0}" -gt 0 ] || die "A's spool did not hold events while the server was down (depth $depth1 -> $depth2)"
ok "spool holds $depth2 events while Prosody is down"
"$src/tests/e2e/prosody.sh" restart "$t/xmpp" >/dev/null || die "restarting Prosody"
wait_for 60 link_up a || die "A did not reconnect after a Prosody restart"
wait_for 60 link_up b || die "B did not reconnect after a Prosody restart"
ok "both gateways reconnected after a Prosody restart"

"$src/tests/e2e/prosody.sh" stop "$t/xmpp" >/dev/null
sleep 1
# every event the adapter produced is in A's spool by now: kill A hard
all_taken() { grep -qx 10000 "$t/a.adapter-state"; }
wait_for 60 all_taken || die "A did not take all 10,000 events into its spool"
kill -9 "$pid_a"
pkill -9 -P "$pid_a" 2>/dev/null
wait "$pid_a" 2>/dev/null
"$src/tests/e2e/prosody.sh" restart "$t/xmpp" >/dev/null || die "restarting Prosody (2)"
gateway_start a XGW_TEST_EVENTS=10000 XGW_TEST_STATE="$t/a.adapter-state"
wait_for 120 delivered 10000 || die "B has $(grep -c '^event ' "$t/b.record") of 10000 events after 2 min"
sleep 2
grep '^event ' "$t/b.record" | awk '{ print $2 }' >"$t/b.seqs"
seq 1 10000 >"$t/want.seqs"
if ! cmp -s "$t/b.seqs" "$t/want.seqs"; then
	dups=$(sort "$t/b.seqs" | uniq -d | wc -l)
	missing=$(sort -u "$t/b.seqs" | comm -13 - <(sort "$t/want.seqs") | wc -l)
	die "events at B are not 1..10000 once in order: $(wc -l <"$t/b.seqs") lines, $dups duplicated, $missing missing"
fi
ok "10,000 events arrived exactly once, in order, through 2 server restarts and a SIGKILL of the sender"

# --- 2. an adapter killed is restarted, the other untouched ----------------------
coap_pid=$(status a | awk '$1 == "adapter" && $2 == "coap" { print $4 }')
modbus_pid=$(status a | awk '$1 == "adapter" && $2 == "modbus" { print $4 }')
[ -n "$modbus_pid" ] && [ "$modbus_pid" != 0 ] || die "no modbus adapter pid in status"
kill -9 "$modbus_pid"
restarted() { status a | awk -v old="$modbus_pid" '$1 == "adapter" && $2 == "modbus" && $4 != old && $4 != 0 && $5 == "ready" { f = 1 } END { exit !f }'; }
wait_for 10 restarted || die "the killed modbus adapter was not restarted"
[ "$(status a | awk '$1 == "adapter" && $2 == "coap" { print $4 }')" = "$coap_pid" ] ||
	die "the coap adapter changed pid when the modbus adapter died"
ok "a killed adapter is restarted ($modbus_pid -> new pid); the other keeps pid $coap_pid"

# --- 3. a bad frame cuts the adapter off, not the daemon ----------------------------
conf c "$USER2_JID" "$USER2_PASSWORD" "$USER1_JID"
gateway_start c XGW_TEST_BAD=type
badframes() { [ "$(status c | awk '$1 == "adapter" && $2 == "modbus" { for (i = 1; i < NF; i++) if ($i == "bad-frames") print $(i + 1) }')" -ge 1 ]; }
wait_for 10 badframes || die "a frame of unknown type was not counted"
kill -0 "$pid_c" || die "xgwd died of a bad frame"
grep -q "connection closed" "$t/c.log" || die "no log line for the bad frame"
ok "a frame of unknown type closes that adapter's connection and is counted; xgwd lives"
kill "$pid_c"; wait "$pid_c" 2>/dev/null
gateway_start c XGW_TEST_BAD=size
wait_for 10 badframes || die "an oversized frame was not counted"
kill -0 "$pid_c" || die "xgwd died of an oversized frame"
ok "an oversized frame is refused before allocation and counted; xgwd lives"
kill "$pid_c"; wait "$pid_c" 2>/dev/null

# --- 4. a full spool refuses events and says so --------------------------------------
"$src/tests/e2e/prosody.sh" stop "$t/xmpp" >/dev/null
conf c "$USER2_JID" "$USER2_PASSWORD" "$USER1_JID" 1M
gateway_start c XGW_TEST_EVENTS=20000 XGW_TEST_STATE="$t/c.adapter-state" XGW_TEST_RECORD="$t/c.record"
refused() { [ "$(field c spool refused)" -gt 0 ]; }
wait_for 30 refused || die "a 1M spool never refused an event: $(status c | head -4)"
grep -q '^fail spool-full' "$t/c.record" || die "the adapter was not told the spool is full"
ok "a full spool refuses events ($(field c spool refused) so far) and the adapter is told"
kill "$pid_c"; wait "$pid_c" 2>/dev/null

# --- 5. reload ------------------------------------------------------------------------
cp "$t/rules" "$t/rules.good"
echo 'pass request modbus function read-coil' >>"$t/rules"
"$xgwctl" reload -s "$t/a.sock" >"$t/reload.out" 2>&1 && die "a bad rules file was accepted on reload"
grep -q "did you mean read-coils" "$t/reload.out" || die "reload error lacks the reason: $(cat "$t/reload.out")"
status a | grep -q '^rule 4 ' && die "a bad rules file changed the running rules"
echo 'block request modbus function write-single-coil' >"$t/rules"
cat "$t/rules.good" >>"$t/rules"
"$xgwctl" reload -s "$t/a.sock" >/dev/null || die "a good rules file was refused"
status a | grep -q '^rule 1 .*block request modbus' || die "the new rules are not running"
ok "reload: a bad file changes nothing and says why; a good one is taken"

kill "$pid_a" "$pid_b"
wait "$pid_a" "$pid_b" 2>/dev/null
grep -q stopped "$t/a.log" || die "xgwd did not stop cleanly on SIGTERM"
ok "SIGTERM stops xgwd cleanly"
echo "xgwd.sh: all passed"
