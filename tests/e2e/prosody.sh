#!/bin/bash
# A throwaway Prosody for end-to-end tests, everything inside one directory.
#
#   prosody.sh start DIR [variant]   PKI (once), fresh free ports, config, users, start, wait
#   prosody.sh restart DIR           the same server again: same ports, same data
#   prosody.sh stop DIR              kill it and wait until it is gone
#
# Variants: "tls" (default): STARTTLS, direct TLS, SCRAM users on "localhost"
# and certificate logins (SASL EXTERNAL, mod_auth_ccert) on "ccert.localhost";
# Prosody 0.12 picks the authentication provider per VirtualHost, so the two
# logins need two hosts.  "plain": a c2s port that offers no TLS at all.
# Both have the component "broker.localhost" on a loopback component port.
#
# DIR/env is written for tests to source (or parse: KEY='value' lines).
# Everything listens on 127.0.0.1 only.  Needs the Debian packages prosody,
# prosody-modules (mod_auth_ccert), openssl and python3.
set -eu

die() {
	echo "prosody.sh: $*" >&2
	exit 1
}

[ $# -ge 2 ] || die "usage: prosody.sh start|stop|restart DIR [tls|plain]"
cmd=$1
dir=$2
variant=${3:-tls}
case $variant in tls | plain) ;; *) die "unknown variant '$variant' (tls or plain)" ;; esac
mkdir -p "$dir" || die "cannot create $dir"
dir=$(cd "$dir" && pwd)
pki=$dir/pki
cfg=$dir/prosody.cfg.lua
pidfile=$dir/prosody.pid
log=$dir/prosody.log
component_secret=broker-secret

# The pid in DIR/prosody.pid, if that process is still our Prosody.
running_pid() {
	local pid
	[ -s "$pidfile" ] || return 1
	pid=$(cat "$pidfile")
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$cfg" || return 1
	echo "$pid"
}

stop() {
	local pid i
	if pid=$(running_pid); then
		kill "$pid" 2>/dev/null || true
		for i in $(seq 100); do
			[ -d "/proc/$pid" ] || break
			sleep 0.1
		done
		if [ -d "/proc/$pid" ]; then
			echo "prosody.sh: pid $pid ignored SIGTERM for 10 s, killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			while [ -d "/proc/$pid" ]; do sleep 0.1; done
		fi
	fi
	rm -f "$pidfile"
}

# Key and certificate NAME signed by CA (or self-signed when CA is "self"),
# with the X.509v3 extensions given as lines of an OpenSSL config section.
# The extensions appear in the given order: subjectAltName must not come
# first, or libstrophe 0.12 does not see it.
mkcert() {
	local name=$1 subj=$2 ca=$3 ext=$4
	# a config of its own, so that the host's openssl.cnf plays no part
	printf '[req]\ndistinguished_name = dn\n[dn]\n[ext]\n%s\n' "$ext" \
		>"$pki/$name.ext"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$pki/$name.key" 2>/dev/null || die "openssl: key $name failed"
	if [ "$ca" = self ]; then
		openssl req -new -x509 -key "$pki/$name.key" -subj "$subj" -days 30 \
			-config "$pki/$name.ext" -extensions ext \
			-out "$pki/$name.pem" 2>"$pki/$name.err" ||
			die "openssl: certificate $name failed: $(cat "$pki/$name.err")"
	else
		openssl req -new -key "$pki/$name.key" -subj "$subj" \
			-out "$pki/$name.csr" 2>"$pki/$name.err" &&
			openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.pem" \
				-CAkey "$pki/$ca.key" -CAcreateserial -days 30 \
				-extfile "$pki/$name.ext" -extensions ext \
				-out "$pki/$name.pem" 2>"$pki/$name.err" ||
			die "openssl: certificate $name failed: $(cat "$pki/$name.err")"
	fi
	rm -f "$pki/$name.csr" "$pki/$name.err"
}

mkpki() {
	local ca_ext="basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash"
	local u
	[ -s "$pki/done" ] && return 0
	rm -rf "$pki"
	mkdir -p "$pki"
	mkcert ca "/CN=xgw test site CA" self "$ca_ext"
	mkcert wrong-ca "/CN=xgw unrelated CA" self "$ca_ext"
	mkcert server "/CN=localhost" ca "basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, DNS:ccert.localhost, DNS:broker.localhost, IP:127.0.0.1"
	for u in gw1 gw2; do
		mkcert "$u" "/CN=$u" ca "basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = otherName:1.3.6.1.5.5.7.8.5;UTF8:$u@ccert.localhost"
	done
	rm -f "$pki"/*.ext "$pki"/*.srl
	echo ok >"$pki/done"
}

# Three distinct free loopback ports, held open together while chosen.
free_ports() {
	/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))
' || die "python3: cannot pick free ports"
}

write_config() {
	local starttls=$1 direct=$2 component=$3
	local tls_modules='"tls";' direct_line="c2s_direct_tls_ports = { $direct }"
	local ssl="ssl = { certificate = \"$pki/server.pem\"; key = \"$pki/server.key\" }"
	if [ "$variant" = plain ]; then
		tls_modules='' direct_line='c2s_direct_tls_ports = { }' ssl=''
	fi
	cat >"$cfg" <<EOF
-- written by tests/e2e/prosody.sh ($variant); regenerated on every start
run_as_root = true
data_path = "$dir/data"
log = { debug = "$log" }
interfaces = { "127.0.0.1" }
-- Nagle's algorithm against delayed ACKs holds every small stanza ~40 ms
-- min_wait: LuaSec holds TLS data it has read, and Prosody reads it again
-- after read_retry_delay, at least min_wait (1 ms) later: every 8 KiB of a
-- large stanza paid a millisecond (HTTP streaming: 2.2 -> 8.9 MB/s)
network_settings = { nagle = false; min_wait = 1e-05 }
c2s_ports = { $starttls }
$direct_line
component_ports = { $component }
component_interfaces = { "127.0.0.1" }
s2s_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { $tls_modules "saslauth"; "disco"; "roster"; "ping"; "smacks"; "posix" }
-- XEP-0198: ask a client to acknowledge once 16 stanzas wait, not after
-- each one: every <r/> costs the server and the client an element each way
smacks_max_unacked_stanzas = 16
modules_disabled = { "s2s" }
c2s_require_encryption = $([ "$variant" = plain ] && echo false || echo true)
allow_unencrypted_plain_auth = false
$ssl

VirtualHost "localhost"
	authentication = "internal_hashed"

EOF
	[ "$variant" = plain ] || cat >>"$cfg" <<EOF
-- certificate logins: the client certificate must chain to the site CA
-- and carry the JID as an xmppAddr; Prosody asks for it but a client
-- without one still completes the handshake.
VirtualHost "ccert.localhost"
	authentication = "ccert"
	certificate_match = "xmppaddr"
	ssl = {
		certificate = "$pki/server.pem";
		key = "$pki/server.key";
		cafile = "$pki/ca.pem";
		verify = { "peer", "client_once" };
		verifyext = { lsec_ignore_purpose = false };
	}

EOF
	cat >>"$cfg" <<EOF
Component "broker.localhost"
	component_secret = "$component_secret"
EOF
}

write_env() {
	local starttls=$1 direct=$2 component=$3
	[ "$variant" = plain ] && direct=
	cat >"$dir/env.tmp" <<EOF
XMPP_VARIANT='$variant'
XMPP_ADDRESS='127.0.0.1'
XMPP_STARTTLS_PORT='$starttls'
XMPP_DIRECT_PORT='$direct'
XMPP_COMPONENT_PORT='$component'
XMPP_DOMAIN='localhost'
XMPP_CCERT_DOMAIN='ccert.localhost'
XMPP_COMPONENT='broker.localhost'
XMPP_COMPONENT_SECRET='$component_secret'
CA='$pki/ca.pem'
WRONG_CA='$pki/wrong-ca.pem'
CLIENT_CERT='$pki/gw1.pem'
CLIENT_KEY='$pki/gw1.key'
CLIENT_JID='gw1@ccert.localhost'
CLIENT2_CERT='$pki/gw2.pem'
CLIENT2_KEY='$pki/gw2.key'
CLIENT2_JID='gw2@ccert.localhost'
USER1_JID='alice@localhost'
USER1_PASSWORD='alice-secret'
USER2_JID='bob@localhost'
USER2_PASSWORD='bob-secret'
USER3_JID='carol@localhost'
USER3_PASSWORD='carol-secret'
PROSODY_DIR='$dir'
PROSODY_LOG='$log'
EOF
	mv "$dir/env.tmp" "$dir/env"
}

register() {
	local user=$1 pass=$2
	prosodyctl --config "$cfg" register "$user" localhost "$pass" \
		>>"$dir/prosodyctl.log" 2>&1 ||
		die "prosodyctl register $user@localhost failed: $(tail -5 "$dir/prosodyctl.log")"
}

port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Starts Prosody on the config in DIR and waits (at most 15 s) until every
# port in DIR/env accepts connections.
launch() {
	local pid i p ok
	# shellcheck disable=SC1091
	. "$dir/env"
	: >"$log"
	prosody -F --config "$cfg" </dev/null >"$dir/prosody.out" 2>&1 &
	pid=$!
	echo "$pid" >"$pidfile"
	for i in $(seq 150); do
		if ! [ -d "/proc/$pid" ]; then
			die "prosody (pid $pid) exited at start; $dir/prosody.out and log tail:
$(tail -5 "$dir/prosody.out"; tail -20 "$log")"
		fi
		ok=1
		for p in $XMPP_STARTTLS_PORT $XMPP_DIRECT_PORT $XMPP_COMPONENT_PORT; do
			port_open "$p" || { ok=0; break; }
		done
		[ $ok = 1 ] && return 0
		sleep 0.1
	done
	stop
	die "prosody did not open ports $XMPP_STARTTLS_PORT $XMPP_DIRECT_PORT $XMPP_COMPONENT_PORT within 15 s; log tail:
$(tail -20 "$log")"
}

start() {
	local ports
	command -v prosody >/dev/null || die "prosody is not installed (apt-get install prosody prosody-modules)"
	stop
	mkpki
	ports=$(free_ports)
	# shellcheck disable=SC2086
	write_config $ports
	# shellcheck disable=SC2086
	write_env $ports
	rm -rf "$dir/data" "$dir/prosodyctl.log"
	mkdir -p "$dir/data"
	register alice alice-secret
	register bob bob-secret
	register carol carol-secret
	launch
}

case $cmd in
start) start ;;
stop) stop ;;
restart)
	[ -s "$dir/env" ] && [ -s "$cfg" ] || die "restart: no server was started in $dir"
	stop
	launch
	;;
*) die "unknown command '$cmd' (start, stop or restart)" ;;
esac
