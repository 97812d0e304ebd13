# Shared by the shell tests and the demo (bash; sourced).
#
#   test_setup NAME LOG...  $t (a fresh /tmp/xgw-NAME.XXXXXX) and pids=(); at
#                           exit the processes in pids are stopped (SIGKILL
#                           after 3 s), Prosody too if started, and $t
#                           removed unless the exit status is a failure
#   die MSG                 "NAME: FAIL: MSG", the tails of the LOGs (in $t), exit 1
#   ok MSG                  "NAME: ok: MSG"
#   prosody_start           a Prosody in $t/xmpp (needs $src), its env loaded
#   adapter_dir NAME=PATH...
#                           $t/adapters with the adapters xgwd runs (XGW_ADAPTER_DIR)
#   status G, link_up G     gateway G's "xgwctl status" ($xgwctl, $t/G.sock); its link is up
#   field G LINE KEY        the value after KEY on G's status line that starts with LINE
#   gateway_start G [VAR=VALUE...]
#                           xgwd -f $t/G.conf in the background with those
#                           variables ($pid_G), its log appended to $t/G.log
#   gateways_up G...        gateway_start G for each G in turn, each link up
#   plcsim_start PORT ARG...
#                           $plcsim ARG... on PORT, its log $t/plc.log, listening
#   coap_put_exact URL      a PUT (cc, the test's coap-client) reaches the server
#                           ($t/server.log, libcoap -v 7) as sent, and its answer
#                           the client as the server sent it, bar the message id;
#                           the request's dump left in $sent
#   free_ports N            N free loopback TCP ports, space separated
#   wait_for SECS CMD...    until CMD succeeds, at most SECS
#   listening PORT          something accepts on 127.0.0.1 PORT
#   gw_conf FILE NAME DIR JID PASSWORD PEER RULES ADAPTER-BLOCKS
#                           a gateway's xgw.conf, everything under DIR
#
# Needs XMPP_STARTTLS_PORT and CA from the Prosody harness's env file.

py=/usr/bin/python3	# Debian's, which sees python3-pymodbus (STACK-NOTES)

test_setup() {
	test_name=$1
	shift
	test_logs=("$@")
	t=$(mktemp -d "${TMPDIR:-/tmp}/xgw-$test_name.XXXXXX")
	pids=()
	trap test_cleanup EXIT
}

# Runs to its end whatever fails (under set -e too): nothing may outlive the test.
test_cleanup() {
	local rc=$? p
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait_for 3 all_gone
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -d "$t/xmpp" ] && "$src/tests/e2e/prosody.sh" stop "$t/xmpp" >/dev/null 2>&1
	[ $rc -eq 0 ] && rm -rf "$t"
}

all_gone() {
	local p
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 1; done
	return 0
}

die() {
	local f
	echo "$test_name: FAIL: $*" >&2
	for f in "${test_logs[@]}"; do
		[ -f "$t/$f" ] && { echo "--- $f (tail)" >&2; tail -25 "$t/$f" >&2; }
	done
	echo "$test_name: everything is kept in $t" >&2
	exit 1
}

ok() { echo "$test_name: ok: $*"; }

prosody_start() {
	"$src/tests/e2e/prosody.sh" start "$t/xmpp" >"$t/prosody.log" 2>&1 ||
		die "Prosody did not start: $(tail -5 "$t/prosody.log")"
	. "$t/xmpp/env"
}

adapter_dir() {
	local a
	mkdir -p "$t/adapters"
	for a in "$@"; do ln -s "${a#*=}" "$t/adapters/${a%%=*}"; done
	export XGW_ADAPTER_DIR=$t/adapters
}

status() { "$xgwctl" status -s "$t/$1.sock"; }
link_up() { status "$1" | grep -q '^link up'; }
field() { status "$1" | awk -v l="$2" -v k="$3" '$1 == l { for (i = 2; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'; }

gateway_start() {
	local g=$1
	shift
	env "$@" "$xgwd" -f "$t/$g.conf" >>"$t/$g.log" 2>&1 &
	pids+=($!)
	eval "pid_$g=$!"
}

gateways_up() {
	local g
	for g in "$@"; do
		gateway_start "$g"
		wait_for 20 link_up "$g" || die "gateway $g: link not up"
	done
}

plcsim_start() {
	local port=$1
	shift
	"$plcsim" -p "$port" -l "$t/plc.log" "$@" 2>"$t/plcsim.err" &
	pids+=($!)
	wait_for 10 listening "$port" || die "plcsim does not listen"
}

# The piggybacked answer carries the client's message id back.
coap_put_exact() {
	local out tok got answer recv log=$t/server.log
	out=$(cc -v 7 -m put -T xgw1 -e payload-1 "$1")
	sent=$(grep -m1 '^v:1 t:CON c:PUT' <<<"$out")
	tok=$(sed -n 's/.*\({[0-9a-f]*}\).*/\1/p' <<<"$sent")
	wait_for 3 grep -q "^v:1 t:ACK c:2.01 .*$tok" "$log"
	got=$(grep -m1 "^v:1 t:CON c:PUT .*$tok" "$log")
	[ -n "$tok" ] && [ "$(coap_nomid <<<"$sent")" = "$(coap_nomid <<<"$got")" ] ||
		die "PUT: the server got '$got', the client sent '$sent'"
	answer=$(grep "^v:1 t:ACK c:2.01 .*$tok" "$log" | tail -1)
	recv=$(grep '^v:1 t:ACK c:2.01' <<<"$out" | tail -1)
	[ -n "$answer" ] && [ "$(coap_nomid <<<"$answer")" = "$(coap_nomid <<<"$recv")" ] &&
		[ "$(coap_mid <<<"$recv")" = "$(coap_mid <<<"$sent")" ] ||
		die "PUT: the client got '$recv', the server sent '$answer'"
}

coap_nomid() { sed 's/ i:[0-9a-f]*//'; }
coap_mid() { sed -n 's/.* i:\([0-9a-f]*\) .*/\1/p'; }

free_ports() {
	"$py" -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
' "$1"
}

wait_for() {
	local secs=$1 i
	shift
	for i in $(seq $((secs * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

listening() {
	"$py" -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)"
}

gw_conf() {
	local file=$1 name=$2 dir=$3 jid=$4 password=$5 peer=$6 rules=$7 blocks=$8
	cat >"$file" <<EOF
state-dir "$dir/$name.state"
user "nobody"
control "$dir/$name.sock"
rules "$rules"
spool "$dir/$name.spool" max 16M
xmpp {
	server "127.0.0.1" port $XMPP_STARTTLS_PORT tls starttls
	ca "$CA"
	jid "$jid" password "$password"
	broker "$peer"
	ping 5s
}
$blocks
EOF
}
