#!/bin/bash
# xgw-coap end to end: coap-client-openssl -> xgw-coap (client side) ->
# fakexgwd (in xgwd's place, looping stanzas back) -> xgw-coap (device
# side) -> coap-server-openssl, all on 127.0.0.1 (Debian libcoap3-bin).
#
#   coap.sh FAKEXGWD XGW-COAP
set -u
fake=$1 adapter=$2
. "$(dirname "$0")/../e2e/lib.sh"
test_setup coap fake.log server.log

for b in coap-client-openssl coap-server-openssl; do
	command -v $b >/dev/null ||
		die "$b not found: install Debian's libcoap3-bin (tests/deps.sh)"
done
[ -x $py ] || die "$py not found: the raw datagram checks need it"

stat_of() { sed -n "s/^$1=//p" "$t/stats" 2>/dev/null; }
stat_is() { [ "$(stat_of "$1")" = "$2" ]; }
stat_atleast() { [ "$(stat_of "$1")" -ge "$2" ] 2>/dev/null; }

P=$("$fake" -p) && S=$("$fake" -p) && DEAD=$("$fake" -p) ||
	die "no free UDP ports"
D=urn:uuid:2b7d9c4e-1f3a-4b5c-8d6e-7f8091a2b3c4
D2=urn:uuid:4e5f6a7b-8c9d-4eaf-b0c1-d2e3f4a5b6c7
cat >"$t/conf" <<EOF
adapter coap {
	listen 127.0.0.1 port $P
	timeout 2500ms
	route "/time" to $D
	route "/example_data" to $D
	route "/dyn" to $D
	route "/async" to $D
	route "/dead" to $D2
	device $D host 127.0.0.1 port $S timeout 3s
	device $D2 host 127.0.0.1 port $DEAD timeout 1s
}
EOF

# line-buffered: the test reads the server's dumps of what it received and sent
stdbuf -oL coap-server-openssl -A 127.0.0.1 -p "$S" -d 20 -v 7 \
	>"$t/server.log" 2>&1 &
pids+=($!)
"$fake" "$adapter" "$t/conf" "$t/record" "$t/stats" nobody >"$t/fake.log" 2>&1 &
fakepid=$!
pids+=($fakepid)
wait_for 5 grep -q '^ready' "$t/record" || die "the adapter did not say READY"

# coap-client prints a payload on stdout and any other code on stderr
cc() { timeout 20 coap-client-openssl -B 8 "$@" 2>&1; }
url=coap://127.0.0.1:$P

out=$(cc "$url/time")
[[ $out =~ ^[A-Z][a-z][a-z]\ [0-9]+\ [0-9:]+$ ]] || die "GET /time: '$out'"
ok "GET /time through both sides: '$out'"

# libcoap's own dumps on both ends: the exchange is exact but for the message id
coap_put_exact "$url/dyn/a"
ok "PUT /dyn/a: request and answer relayed exactly but for the device's message id ($sent)"

[ "$(cc "$url/dyn/a")" = payload-1 ] || die "GET /dyn/a after PUT"
cc -m post -e payload-2 "$url/dyn/a" >/dev/null
[ "$(cc "$url/dyn/a")" = payload-2 ] || die "GET /dyn/a after POST"
ok "GET and POST /dyn/a"
out=$(cc -m delete "$url/dyn/a")
[ -z "$out" ] || die "DELETE /dyn/a: '$out'"
out=$(cc "$url/dyn/a")
[ "$out" = "4.04 Not Found" ] || die "GET /dyn/a after DELETE: '$out'"
grep -q 'name="not-found"' "$t/record" ||
	die "the 4.04 after DELETE did not come from the device"
ok "DELETE /dyn/a, then 4.04 from the device"

# Block-wise: relayed one block at a time, each one a request and a response
before=$(grep -c '^request ' "$t/record")
direct=$(cc -b 64 "coap://127.0.0.1:$S/example_data" | md5sum)
relayed=$(cc -b 64 "$url/example_data" | md5sum)
blocks=$(( $(grep -c '^request ' "$t/record") - before ))
[ "$direct" = "$relayed" ] || die "block-wise GET /example_data differs"
[ $blocks -ge 24 ] || die "block-wise GET /example_data: $blocks requests"
ok "block-wise GET /example_data (1500 bytes): $blocks blocks of 64, same body"

head -c 3000 /dev/urandom | base64 -w 0 >"$t/big"
cc -b 64 -m put -f "$t/big" "$url/dyn/big" >/dev/null
cc -b 64 -o "$t/big.back" "$url/dyn/big" >/dev/null
cmp -s "$t/big" "$t/big.back" || die "block-wise PUT then GET of /dyn/big"
ok "block-wise PUT and GET of a 4000-byte body, relayed block by block"

# Observe: the registration's answer is a response, every notification after it an event
out=$(cc -s 4 "$url/time")
n=$(grep -o '[0-9][0-9]:[0-9][0-9]:[0-9][0-9]' <<<"$out" | wc -l)
ev=$(grep -c '^event ' "$t/record")
[ "$n" -ge 4 ] && [ "$ev" -ge 3 ] ||
	die "observe /time: $n values at the client, $ev events: '$out'"
observes() { grep '^request ' "$t/record" | grep -oE '<opt [^>]*name="observe"[^>]*>'; }
deregistered() { [ "$(observes | grep -c 'uint="1"')" -gt "$dereg" ]; }
dereg=0
observes | grep -q 'uint="0"' || die "observe: no registration went upstream"
wait_for 3 deregistered ||
	die "observe: the client's deregistration did not go upstream"
sleep 3
[ "$(grep -c '^event ' "$t/record")" -eq "$ev" ] ||
	die "observe: notifications go on after the client deregistered"
ok "observe /time: $n values, $ev events, none after deregistration"

# An observer that rejects a notification with RST is deregistered upstream
dereg=$(observes | grep -c 'uint="1"')
ev=$(grep -c '^event ' "$t/record")
$py - "$P" <<'EOF' || die "observe, then RST"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
dst = ("127.0.0.1", int(sys.argv[1]))
s.sendto(b"\x41\x01\x50\x00o\x60\x54time", dst)   # GET Observe:0 /time
first = s.recv(65536)
if first[:4] != b"\x61\x45\x50\x00" or first[4:5] != b"o":
    sys.exit("registration answer: " + first.hex())
note = s.recv(65536)
if note[1] != 0x45 or note[4:5] != b"o":
    sys.exit("notification: " + note.hex())
s.sendto(bytes([0x70, 0, note[2], note[3]]), dst)     # RST
EOF
wait_for 3 deregistered ||
	die "observe: an RST from the client did not deregister upstream"
sleep 3
ev2=$(grep -c '^event ' "$t/record")
sleep 2
[ "$(grep -c '^event ' "$t/record")" -eq "$ev2" ] ||
	die "observe: notifications go on after the client's RST"
ok "observe, then RST from the client: deregistered upstream after $((ev2 - ev)) events"

out=$(cc "$url/nothere")
[ "$out" = "4.04" ] || die "GET /nothere: '$out'"
grep -q 'value="nothere"' "$t/record" && die "/nothere went upstream"
wait_for 3 stat_is no-route 1 || die "no-route counter: $(stat_of no-route)"
ok "no route: 4.04 from the adapter, nothing upstream"

out=$(cc "$url/time?xgw=fail")
[ "$out" = "5.02" ] || die "FRAME_FAIL: '$out'"
ok "a request xgwd cannot carry: 5.02"
start=$(date +%s%N)
out=$(cc "$url/time?xgw=drop")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$out" = "5.04" ] && [ $ms -ge 2400 ] && [ $ms -lt 6000 ] ||
	die "unanswered request: '$out' after ${ms}ms"
ok "an unanswered request: 5.04 after ${ms}ms"
sep=$(stat_of separate)
out=$(cc "$url/time?xgw=slow")
[[ $out =~ ^[A-Z][a-z][a-z]\ [0-9]+\ [0-9:]+$ ]] || die "slow GET: '$out'"
wait_for 3 stat_atleast separate $((sep + 1)) || die "slow GET was not separate"
ok "a slow answer: empty ACK, then the response separately"
out=$(cc "$url/async?1")
[ "$out" = done ] || die "GET /async?1 (the device answers separately): '$out'"
ok "the device's separate response"

out=$(cc "$url/dead")
[ "$out" = "5.02" ] || [ "$out" = "5.04" ] ||
	die "GET of a dead device: '$out'"
ok "a device that does not listen: $out"

# Raw datagrams: malformed ones are counted (a CON one gets RST), a ping
# gets RST, a duplicated CON gets the same answer, and the adapter serves on.
$py - "$P" <<'EOF' || die "raw datagrams"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
dst = ("127.0.0.1", int(sys.argv[1]))
def ask(b):
    s.sendto(b, dst)
    return s.recv(65536)
def check(what, got, want):
    if got != want:
        sys.exit("%s: got %s, expected %s" % (what, got.hex(), want.hex()))
check("truncated token (CON)", ask(b"\x41\x01\x00\x01"), b"\x70\x00\x00\x01")
s.sendto(b"\x80\x01\x00\x02", dst)           # version 2: ignored
check("option nibble 15 (CON)", ask(b"\x40\x01\x00\x03\xf1"),
      b"\x70\x00\x00\x03")
s.sendto(b"\xff", dst)                       # one byte: ignored
check("ping", ask(b"\x40\x00\x12\x34"), b"\x70\x00\x12\x34")
get = b"\x41\x01\x42\x42d\xb4time"
a, b = ask(get), ask(get)
if a != b or a[:2] != b"\x61\x45" or a[2:5] != b"\x42\x42d":
    sys.exit("duplicate CON: %s then %s" % (a.hex(), b.hex()))
EOF
wait_for 3 stat_is malformed 4 || die "malformed counter: $(stat_of malformed)"
wait_for 3 stat_atleast duplicates 1 || die "duplicates: $(stat_of duplicates)"
out=$(cc "$url/time")
[[ $out =~ ^[A-Z][a-z][a-z]\ [0-9]+\ [0-9:]+$ ]] ||
	die "GET /time after malformed datagrams: '$out'"
ok "4 malformed datagrams counted, ping, duplicate, still serving"

# stopped as xgwd stops it: the socket closes and the adapter exits 0 by itself
kill "$fakepid"
wait "$fakepid" || die "the adapter did not end cleanly when xgwd went away"
grep -qE 'runtime error|Sanitizer' "$t/fake.log" && die "sanitizer reports"
grep -q '^<[0-3]>' "$t/fake.log" && die "errors in the adapter's log"
ok "the adapter ends by itself when xgwd goes away"
exit 0
