#!/bin/bash
# CoAP through two gateways, the complete packet transversion:
#
#   coap-client-openssl -> xgw-coap (A, client side) -> xgwd A
#     -> Prosody (STARTTLS) -> xgwd B -> xgw-coap (B, device side)
#     -> coap-server-openssl
#
# and back (Debian libcoap3-bin at both ends).  Both xgwd judge every
# stanza.  Checks: GET, PUT, POST and DELETE, the PUT the server receives
# equal to the client's but for the message id and the answer relayed
# exactly; a NON request; a slow answer (empty ACK, then a separate CON);
# 200 sequential GETs (latency printed); a block-wise GET of /example_data;
# an observation whose notifications cross as events (xgwd's spool and
# end-to-end acknowledgements) and stop after the client deregisters; two
# observers sharing one registration at the server; a path the policy
# rejects gets 4.03 and nothing reaches the server; with the XMPP server
# down, 5.02 at once; both gateways stop cleanly (and, under ASan, leak-free).
#
#   coap2gw.sh XGWD XGWCTL XGW-COAP FAKEXGWD SRCDIR
# (FAKEXGWD only picks free UDP ports: "fakexgwd -p")
set -u
xgwd=$(readlink -f "$1") xgwctl=$(readlink -f "$2") adapter=$(readlink -f "$3")
fake=$(readlink -f "$4") src=$(readlink -f "$5")
. "$src/tests/e2e/lib.sh"
test_setup coap2gw a.log b.log server.log
# Under LeakSanitizer: libstrophe 0.12.2 loses 29 bytes it allocated with
# xmpp_stanza_get_text inside xmpp_run_once once the server went away (the
# last check below); xgwd and the adapters call xmpp_stanza_get_text_ptr.
echo "leak:xmpp_stanza_get_text" >"$t/lsan.supp"
export LSAN_OPTIONS="suppressions=$t/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

coap_ready() { status "$1" | grep -q '^adapter coap .* ready '; }
# a field of "xgwctl status": the number after WORD on the line starting with KEY
field() { status "$1" | awk -v k="$2" -v w="$3" \
	'$1 == k { for (i = 1; i < NF; i++) if ($i == w) print $(i + 1) }'; }

for b in coap-client-openssl coap-server-openssl; do
	command -v $b >/dev/null ||
		die "$b not found: install Debian's libcoap3-bin (tests/deps.sh)"
done
prosody_start

P=$("$fake" -p) && S=$("$fake" -p) || die "no free UDP ports"
[ "$P" != "$S" ] || die "the same free UDP port twice: $P"

# coap-client prints a payload on stdout and any other code on stderr
cc() { timeout 30 coap-client-openssl -B 10 "$@" 2>&1; }
url=coap://127.0.0.1:$P
is_time() { [[ $1 =~ ^[A-Z][a-z][a-z]\ [0-9]+\ [0-9:]+$ ]]; }

# line-buffered: the test reads the server's dumps of what it received and sent
stdbuf -oL coap-server-openssl -A 127.0.0.1 -p "$S" -d 20 -v 7 \
	>"$t/server.log" 2>&1 &
pids+=($!)
server_up() { is_time "$(timeout 3 coap-client-openssl -B 1 "coap://127.0.0.1:$S/time" 2>&1)"; }
wait_for 10 server_up || die "coap-server-openssl does not answer on port $S"

adapter_dir xgw-coap="$adapter"
D=urn:uuid:2b7d9c4e-1f3a-4b5c-8d6e-7f8091a2b3c4

# Both gateways: /secret is refused with 4.03 (at A, on its way out).
cat >"$t/rules" <<EOF
reject request coap path prefix "/secret"
pass request coap
pass response coap
pass event coap
EOF

gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" "$USER2_JID" "$t/rules" "adapter coap {
	listen 127.0.0.1 port $P
	timeout 4s
	route \"/\" to $D
}"
gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" "$USER1_JID" "$t/rules" "adapter coap {
	device $D host 127.0.0.1 port $S timeout 3s
}"

for g in b a; do
	gateways_up $g
	wait_for 10 coap_ready $g || die "gateway $g: xgw-coap not ready"
done
ok "two gateways up, linked through Prosody"

out=$(cc "$url/time")
is_time "$out" || die "GET /time: '$out'"
ok "GET /time through both gateways: '$out'"

# libcoap's own dumps on both ends: the exchange is exact but for the message id
coap_put_exact "$url/dyn/a"
ok "PUT /dyn/a: request and answer exact but for the server's message id"

[ "$(cc "$url/dyn/a")" = payload-1 ] || die "GET /dyn/a after PUT"
out=$(cc -m post -e payload-2 "$url/dyn/a")
[ -z "$out" ] || die "POST /dyn/a: '$out'"
[ "$(cc "$url/dyn/a")" = payload-2 ] || die "GET /dyn/a after POST"
out=$(cc -m delete "$url/dyn/a")
[ -z "$out" ] || die "DELETE /dyn/a: '$out'"
out=$(cc "$url/dyn/a")
[ "$out" = "4.04 Not Found" ] || die "GET /dyn/a after DELETE: '$out'"
ok "POST, GET and DELETE /dyn/a; then 4.04 from the server"

out=$(cc -v 7 -N "$url/time")
grep -q "^v:1 t:NON c:2.05 .* :: '[A-Z][a-z][a-z] " <<<"$out" ||
	die "NON GET /time: '$(grep '^v:1' <<<"$out")'"
ok "NON GET /time: a NON answer"

# The server answers after 2 s: A acknowledges the client at 1 s (it need
# not retransmit) and sends the answer later as a CON of its own.
out=$(cc -v 7 "$url/async?2")
grep -q '^v:1 t:ACK c:0.00 ' <<<"$out" &&
	grep -q "^v:1 t:CON c:2.05 .* :: 'done'" <<<"$out" ||
	die "separate response: '$(grep '^v:1' <<<"$out")'"
ok "GET /async?2: an empty ACK, then the answer as a separate CON"

# 200 GETs one after another, through both gateways and straight to the
# server: every answer piggybacked with the request's message id and token.
"$py" - "$P" "$S" >"$t/latency.out" 2>&1 <<'EOF' || die "sequential GETs: $(cat "$t/latency.out")"
import socket, sys, time
def run(port, n=200):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    ms = []
    for i in range(n):
        mid = (0x1000 + i).to_bytes(2, "big")
        t0 = time.monotonic()
        s.sendto(b"\x42\x01" + mid + b"tk\xb4time", ("127.0.0.1", port))
        a = s.recv(2048)
        ms.append((time.monotonic() - t0) * 1000)
        if a[:6] != b"\x62\x45" + mid + b"tk":
            sys.exit("GET %d on port %d: %s" % (i, port, a.hex()))
    ms.sort()
    return "p50 %.2f ms, p99 %.2f ms" % (ms[n // 2], ms[n * 99 // 100])
print("through both gateways %s; straight to the server %s" %
      (run(int(sys.argv[1])), run(int(sys.argv[2]))))
EOF
ok "200 sequential GETs answered: $(cat "$t/latency.out")"

# Block-wise: relayed one block at a time, each a request and a response
before=$(grep -c '^v:1 t:CON c:GET .*example_data' "$t/server.log")
direct=$(cc -b 64 "coap://127.0.0.1:$S/example_data" | md5sum)
between=$(grep -c '^v:1 t:CON c:GET .*example_data' "$t/server.log")
relayed=$(cc -b 64 "$url/example_data" | md5sum)
blocks=$(( $(grep -c '^v:1 t:CON c:GET .*example_data' "$t/server.log") - between ))
[ "$direct" = "$relayed" ] || die "block-wise GET /example_data differs"
[ $((between - before)) -ge 24 ] && [ $blocks -eq $((between - before)) ] ||
	die "block-wise GET /example_data: $((between - before)) blocks direct, $blocks relayed"
ok "block-wise GET /example_data: $blocks blocks of 64 bytes, the same body as direct"

# Observe: the registration's answer is a response, every later
# notification an event through B's spool, acknowledged by A.
spooled=$(field b spool next-seq)
out=$(cc -s 6 "$url/time")
n=$(grep -o '[0-9][0-9]:[0-9][0-9]:[0-9][0-9]' <<<"$out" | wc -l)
events=$(( $(field b spool next-seq) - spooled ))
[ "$n" -ge 5 ] && [ "$events" -ge 4 ] ||
	die "observe /time: $n values at the client, $events events spooled at B: '$out'"
acked() { [ "$(field b spool acked)" -ge $((spooled + events - 1)) ]; }
wait_for 5 acked || die "observe: B's events not acknowledged by A: $(status b | grep '^spool')"
# coap-client deregisters when -s runs out: the server stops notifying
sleep 3
notes=$(grep -c '^v:1 t:[CN][OO]N c:2.05 .*Observe' "$t/server.log")
sleep 3
[ "$(grep -c '^v:1 t:[CN][OO]N c:2.05 .*Observe' "$t/server.log")" -eq "$notes" ] ||
	die "observe: the server goes on notifying after the client left"
ok "observe /time: $n values at the client, $events events through B's spool, none after"

# Two observers of /time with the same token, the second from 1 s to 9 s:
# B's device side is one client endpoint to the server, which keeps one
# observation per endpoint and resource (RFC 7641 4.1), so both share one
# registration and its notifications; the first one leaving (a token of
# its own, a plain GET to the server) does not end the second's.
mark=$(wc -l <"$t/server.log")
cc -s 4 -T ob "$url/time" >"$t/obs1" &
o1=$!
sleep 1
cc -s 8 -T ob "$url/time" >"$t/obs2" &
o2=$!
wait $o1 $o2
n1=$(grep -o '[0-9][0-9]:[0-9][0-9]:[0-9][0-9]' "$t/obs1" | wc -l)
n2=$(grep -o '[0-9][0-9]:[0-9][0-9]:[0-9][0-9]' "$t/obs2" | wc -l)
# each value once to each: a later registration's answer is no news
dup=$(for f in obs1 obs2; do
	grep -o '[0-9][0-9]:[0-9][0-9]:[0-9][0-9]' "$t/$f" | sort | uniq -d
done)
regs=$(tail -n +$((mark + 1)) "$t/server.log" |
	grep '^v:1 t:CON c:GET .*Observe:0, .*Uri-Path:time' | grep -o '{[0-9a-f]*}' | sort -u)
[ "$n1" -ge 3 ] && [ "$n2" -ge 7 ] && [ -z "$dup" ] && [ "$(wc -l <<<"$regs")" -eq 1 ] ||
	die "two observers, one token: $n1 and $n2 values (repeated: $dup), tokens at the server: $regs"
ok "two observers, one token: $n1 and $n2 values, one registration ($regs) at the server"

# The policy: 4.03 from gateway A, nothing at the server
out=$(cc "$url/secret/key")
[ "$out" = "4.03" ] || [ "$out" = "4.03 Forbidden" ] || die "GET /secret/key: '$out'"
out=$(cc -m put -e x "$url/secret")
[ "$out" = "4.03" ] || [ "$out" = "4.03 Forbidden" ] || die "PUT /secret: '$out'"
grep -q secret "$t/server.log" && die "a rejected request reached the server"
[ "$(field a stanzas rejected)" -ge 2 ] || die "A did not count the rejections"
ok "GET and PUT /secret: 4.03 from gateway A's policy, nothing at the server"

"$src/tests/e2e/prosody.sh" stop "$t/xmpp" >/dev/null
link_down() { ! link_up a; }
wait_for 15 link_down || die "A did not notice the XMPP server going away"
start=$(date +%s%N)
out=$(cc "$url/time")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$out" = "5.02" ] || [ "$out" = "5.02 Bad Gateway" ] || die "link down: '$out'"
[ $ms -lt 1000 ] || die "link down: 5.02 after ${ms}ms"
ok "with the XMPP server down, 5.02 at once (${ms}ms)"

# stopped as systemd stops them: each xgwd stops its adapter and exits 0
for g in a b; do
	eval "p=\$pid_$g"
	kill "$p"
	wait "$p" || die "gateway $g did not stop cleanly"
	grep -qE 'runtime error|Sanitizer' "$t/$g.log" && die "sanitizer reports in $g.log"
done
echo "coap2gw: all passed"
