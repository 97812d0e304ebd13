#!/bin/bash
# xgwd as xgwd.service runs it: an unprivileged user with CAP_NET_BIND_SERVICE
# as its only (ambient) capability, and a notify socket and a watchdog as
# systemd gives them.  Checks, with a Modbus adapter listening on a port
# below 1024:
#
#   READY=1 with a STATUS line once started, from the main pid (NotifyAccess=main)
#   the adapter bound the low port, then kept no capability at all
#   WATCHDOG=1 at half of WATCHDOG_USEC (up to a second later), STATUS
#   again every 5 s
#   SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1; also for a
#   rules file that does not check (the running rules stay)
#   SIGTERM: STOPPING=1, and exit 0
#
# No XMPP server is needed: READY means started, not linked.
#
#   notify.sh XGWD XGW-MODBUS SRCDIR
set -u
xgwd=$(readlink -f "$1") adapter=$(readlink -f "$2") src=$(readlink -f "$3")
. "$src/tests/e2e/lib.sh"
t=$(mktemp -d /tmp/xgw-notify.XXXXXX)
pids=()
fail=0

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ $fail -eq 0 ] && rm -rf "$t"
}
trap cleanup EXIT

die() {
	echo "notify: FAIL: $*" >&2
	[ -f "$t/xgwd.log" ] && { echo "--- xgwd.log (tail)" >&2; tail -20 "$t/xgwd.log" >&2; }
	[ -f "$t/notify.log" ] && { echo "--- notifications" >&2; cat "$t/notify.log" >&2; }
	fail=1
	exit 1
}
ok() { echo "notify: ok: $*"; }
# the number of notifications received so far that match an ERE
count() { grep -cE "$1" "$t/notify.log"; }
seen() { [ "$(count "$1")" -ge "${2:-1}" ]; }

[ "$(id -u)" -eq 0 ] || die "needs root: setpriv gives another user an ambient capability"
command -v setpriv >/dev/null || die "setpriv is not installed (util-linux)"

# systemd's side: an abstract datagram socket; each line: the sender's pid,
# the notification ('|' for newlines), the monotonic time
sock=xgw-notify-test-$$
"$py" - "$sock" "$t/notify.log" <<'EOF' &
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind("\0" + sys.argv[1])
out = open(sys.argv[2], "w")
while True:
    data, anc, _, _ = s.recvmsg(8192, socket.CMSG_SPACE(12))
    pid = next((struct.unpack("iII", d)[0] for l, t, d in anc
                if l == socket.SOL_SOCKET and t == socket.SCM_CREDENTIALS), 0)
    out.write("%d %s %.3f\n" % (pid, data.decode().replace("\n", "|"),
                                time.monotonic()))
    out.flush()
EOF
pids+=($!)
wait_for 5 test -e "$t/notify.log" || die "the notify socket listener did not start"

# a free port below 1024: only CAP_NET_BIND_SERVICE lets the adapter bind it
low=$("$py" -c '
import socket
for p in range(1023, 600, -1):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(p)
    break
')
[ -n "$low" ] || die "no free port below 1024"

mkdir -p "$t/adapters" "$t/spool"
ln -s "$adapter" "$t/adapters/xgw-modbus"
printf 'pass request modbus\n' >"$t/rules"
cat >"$t/xgw.conf" <<EOF
state-dir "$t/state"
user "nobody"
control "$t/control"
rules "$t/rules"
spool "$t/spool" max 1M
xmpp {
	server "127.0.0.1" port 1 tls starttls
	ca "$t/ca.pem"
	jid "gw@localhost" password "unused"
	broker "broker.localhost"
}
adapter modbus {
	listen 127.0.0.1 port $low
	route "unit 1" to urn:uuid:11111111-1111-4111-8111-111111111111
}
EOF
chown -R nobody "$t"

NOTIFY_SOCKET=@$sock WATCHDOG_USEC=3000000 XGW_ADAPTER_DIR=$t/adapters \
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
	--inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
	--bounding-set=-all,+net_bind_service --no-new-privs \
	"$xgwd" -f "$t/xgw.conf" >"$t/xgwd.log" 2>&1 &
main=$!
pids+=("$main")

wait_for 10 seen "^$main READY=1[|]STATUS=link [a-z]+, spool 0 events \(0 of 1048576 bytes\), [01] of 1 adapters ready [0-9.]+$" ||
	die "no READY=1 with a STATUS line from xgwd (pid $main) within 10 s"
[ "$(count "^$main ")" -eq "$(count .)" ] || die "a notification came from another pid than xgwd's"
ok "READY=1 with STATUS, from the main pid"

wait_for 10 listening "$low" || die "the adapter does not listen on 127.0.0.1:$low"
child=$(pgrep -P "$main" -f xgw-modbus) || die "no adapter process under xgwd"
caps=$(grep -E '^Cap(Inh|Prm|Eff|Amb)' "/proc/$child/status" | awk '{print $2}' | sort -u)
[ "$caps" = 0000000000000000 ] ||
	die "the adapter kept capabilities after binding: $(grep ^Cap "/proc/$child/status" | tr '\n' ' ')"
grep -q '^CapAmb:.*0000000000000400$' "/proc/$main/status" ||
	die "xgwd lost CAP_NET_BIND_SERVICE, so a restarted adapter could not bind: $(grep ^CapAmb "/proc/$main/status")"
ok "the adapter bound port $low as nobody, then dropped every capability; xgwd keeps the one it passes on"

wait_for 10 seen "^$main STATUS=.* 1 of 1 adapters ready [0-9.]+$" || die "no STATUS with the adapter ready"
# Half of 3 s, and the loop wakes at least once a second: every gap between
# pings lies in 1.5..2.5 s, well inside the 3 s systemd allows.
wait_for 15 seen "^$main WATCHDOG=1 " 6 || die "fewer than 6 WATCHDOG=1 in 15 s"
gaps=$(awk '$2 == "WATCHDOG=1" { if (t) printf "%.2f ", $3 - t; t = $3 }' "$t/notify.log")
for g in $gaps; do
	awk -v g="$g" 'BEGIN { exit !(g >= 1.4 && g <= 2.6) }' ||
		die "WATCHDOG=1 gaps $gaps s; expected 1.5..2.5 s (WATCHDOG_USEC 3 s)"
done
status1=$(count "STATUS=")
wait_for 7 seen "STATUS=" $((status1 + 1)) || die "no new STATUS within 7 s"
ok "WATCHDOG=1 at half the interval, STATUS every 5 s"

n=$(count "^$main RELOADING=1[|]MONOTONIC_USEC=[0-9]+ ")
kill -HUP "$main"
wait_for 5 seen "^$main RELOADING=1[|]MONOTONIC_USEC=[0-9]+ " $((n + 1)) || die "SIGHUP: no RELOADING=1 with MONOTONIC_USEC"
wait_for 5 sh -c "grep -A100 RELOADING=1 '$t/notify.log' | grep -q '^$main READY=1|'" ||
	die "SIGHUP: no READY=1 after RELOADING=1"
printf 'pass request modbus unit 300\n' >"$t/rules"
kill -HUP "$main"
wait_for 5 sh -c "[ \$(grep -c '^$main READY=1|' '$t/notify.log') -ge 3 ]" ||
	die "SIGHUP with a bad rules file: no READY=1 after it"
grep -q 'the running rules stay' "$t/xgwd.log" || die "the bad rules file was not reported"
ok "SIGHUP: RELOADING=1, then READY=1, also when the new rules do not check"

kill -TERM "$main"
wait_for 10 sh -c "! kill -0 $main" || die "xgwd did not stop within 10 s of SIGTERM"
wait "$main"
rc=$?
[ $rc -eq 0 ] || die "xgwd exited with status $rc after SIGTERM"
seen "^$main STOPPING=1 " || die "no STOPPING=1"
ok "SIGTERM: STOPPING=1, exit 0"
echo "notify: all passed"
