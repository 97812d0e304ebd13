# Shared by the two-gateway tests and the demo (bash; sourced).
#
#   free_ports N            N free loopback TCP ports, space separated
#   wait_for SECS CMD...    until CMD succeeds, at most SECS
#   listening PORT          something accepts on 127.0.0.1 PORT
#   gw_conf FILE NAME DIR JID PASSWORD PEER RULES ADAPTER-BLOCKS
#                           a gateway's xgw.conf, everything under DIR
#
# Needs XMPP_STARTTLS_PORT and CA from the Prosody harness's env file.

py=/usr/bin/python3	# Debian's, which sees python3-pymodbus (STACK-NOTES)

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
