#!/bin/bash
# HTTP/1.1 through two gateways, the complete packet transversion:
#
#   curl, raw sockets -> xgw-http (A, client side) -> xgwd A
#     -> Prosody (STARTTLS) -> xgwd B -> xgw-http (B, device side) -> devsim
#
# and back.  Both xgwd judge every stanza.  Checks (clients.py): GET, HEAD,
# POST, chunked upload and download, an answer read until close, 100 KiB
# bodies, keep-alive and pipelining; the bytes the device read equal the
# bytes the client sent and the other way round; DELETE is rejected by the
# policy with 403 and never reaches the device; no route and a dead device
# give 502, a slow device 504; malformed and oversize requests get
# 400/413/414/431 and a closed connection while other clients carry on.
# Routes by host: two more device simulators behind B are reached by
# the Host field (or an absolute-form target's authority) of the same
# path; an unknown host falls back to the host-less route, or gets 502
# where there is none; a missing or doubled Host gets 400.  (/small,
# /bounded and /patient, a route's and a device's body-max and a device's
# long timeout, are stream.sh's.)
# Then, with gateway B stopped, gateway A answers 504 after its timeout.
#
#   http2gw.sh XGWD XGWCTL XGW-HTTP SRCDIR
#
# Sourced (tests/bench/http_path.sh), it stops once both gateways are up;
# a function prosody_tune, when the sourcing script defines one, runs
# right after Prosody's start.
set -u
xgwd=$(readlink -f "$1") xgwctl=$(readlink -f "$2") adapter=$(readlink -f "$3")
src=$(readlink -f "$4")
here=$src/tests/e2e-http
. "$src/tests/e2e/lib.sh"
test_setup http2gw a.log b.log

command -v curl >/dev/null || die "curl is not installed (tests/deps.sh)"
prosody_start
declare -F prosody_tune >/dev/null && prosody_tune

set -- $(free_ports 5)
dev_port=$1 gw_port=$2 closed_port=$3 dev3_port=$4 dev4_port=$5

for d in dev:$dev_port dev3:$dev3_port dev4:$dev4_port; do
	"$py" "$here/devsim.py" "${d#*:}" "$t/${d%:*}.log" 2>"$t/${d%:*}.err" &
	pids+=($!)
	wait_for 10 listening "${d#*:}" || die "devsim ${d%:*} does not listen: $(cat "$t/${d%:*}.err")"
done

adapter_dir xgw-http="$adapter"
d1=urn:uuid:11111111-1111-4111-8111-111111111111
d2=urn:uuid:22222222-2222-4222-8222-222222222222
d3=urn:uuid:33333333-3333-4333-8333-333333333333
d4=urn:uuid:44444444-4444-4444-8444-444444444444
d5=urn:uuid:55555555-5555-4555-8555-555555555555
d6=urn:uuid:66666666-6666-4666-8666-666666666666

# "bound=1m", "cut=1m" and X-Bounded: streamed bodies of unknown size held
# to 1 MiB by the rules (stream.py)
cat >"$t/rules" <<EOF
reject request http method DELETE
pass request http path "/dev/sink" query "bound=1m" body-size 0:1048576
reject request http query "bound=1m"
block request http query "cut=1m" body-size 1048577:4294967295
pass request http
pass response http header "X-Bounded" body-size 0:1048576
block response http header "X-Bounded"
pass response http
EOF
# B's rules are stricter: "strict=1" uploads held to 512 KiB there alone
{ echo 'pass request http path "/patient/sink" query "strict=1" body-size 0:524288'
  echo 'reject request http query "strict=1"'
  cat "$t/rules"; } >"$t/rules-b"

# A waits 3 s for an answer, B 1 s for its devices: a slow device gets
# B's 504, a silent gateway B gets A's.
gw_conf "$t/a.conf" a "$t" "$USER1_JID" "$USER1_PASSWORD" "$USER2_JID" "$t/rules" "adapter http {
	listen 127.0.0.1 port $gw_port
	timeout 3s
	route \"/dev\" to $d1
	route \"/dead\" to $d2
	route \"/dev\" host \"alpha.example\" to $d3
	route \"/dev\" host { \"beta.example\" \"[::1]\" } to $d4
	route \"/\" host \"gamma.example\" to $d3
	route \"/only\" host \"alpha.example\" to $d3
	route \"/small\" to $d1 body-max 1M
	route \"/bounded\" to $d5
	route \"/patient\" to $d6
}"
gw_conf "$t/b.conf" b "$t" "$USER2_JID" "$USER2_PASSWORD" "$USER1_JID" "$t/rules-b" "adapter http {
	device $d1 host 127.0.0.1 port $dev_port timeout 1s
	device $d2 host 127.0.0.1 port $closed_port timeout 1s
	device $d3 host 127.0.0.1 port $dev3_port timeout 1s
	device $d4 host 127.0.0.1 port $dev4_port timeout 1s
	device $d5 host 127.0.0.1 port $dev_port timeout 1s body-max 1M
	device $d6 host 127.0.0.1 port $dev_port timeout 10s
}"

gateways_up b a
wait_for 10 listening "$gw_port" || die "gateway A's HTTP listener is not up"
ok "two gateways up, linked through Prosody"
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

"$py" "$here/clients.py" "$gw_port" "$t/dev.log" "$t/a.log" "$t" "$dev_port" \
	"$t/dev3.log" "$t/dev4.log" >"$t/clients.out" 2>&1
rc=$?
sed 's/^/http2gw:   /' "$t/clients.out"
[ $rc -eq 0 ] || die "clients: $(grep -E 'FAIL|Error' "$t/clients.out" | head -10)"
ok "every exchange byte-exact at both ends, through both gateways"

# With gateway B gone, nobody answers: A's own timeout (3 s) gives 504.
kill "$pid_b"
wait "$pid_b" 2>/dev/null
start=$(date +%s%N)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$gw_port/dev/hello")
ms=$((($(date +%s%N) - start) / 1000000))
[ "$code" = 504 ] && [ $ms -ge 2900 ] && [ $ms -lt 5000 ] ||
	die "gateway B stopped: want 504 after about 3 s, got $code after $ms ms"
ok "gateway B stopped: 504 after A's timeout ($ms ms)"

# With the XMPP server down, A cannot carry anything: 502 at once.
"$src/tests/e2e/prosody.sh" stop "$t/xmpp" >/dev/null
wait_for 15 sh -c "! \"$xgwctl\" status -s \"$t/a.sock\" | grep -q '^link up'" ||
	die "A did not notice the server going away"
start=$(date +%s%N)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$gw_port/dev/hello")
ms=$((($(date +%s%N) - start) / 1000000))
[ "$code" = 502 ] && [ $ms -lt 1000 ] || die "link down: want 502 at once, got $code after $ms ms"
ok "with the XMPP server down, 502 at once ($ms ms)"
! grep -E 'Sanitizer|runtime error' "$t/a.log" "$t/b.log" ||
	die "a sanitizer reported an error (above)"
echo "http2gw: all passed"
