#!/bin/bash
# Bodies too large for one stanza, streamed in parts through two gateways:
#
#   curl, raw sockets -> xgw-http (A) -> xgwd A -> Prosody -> xgwd B
#     -> xgw-http (B) -> devsim
#
# Uploads (Content-Length, chunked by curl, chunked with extensions and a
# trailer on a raw socket) and downloads (Content-Length, chunked, read
# until close) of 5 MiB, and an upload echoed back streamed, byte for
# byte at the far side (stream.py); a DELETE with a large body is denied
# with 403 on its head and nothing reaches the device; a bad chunk inside
# a streamed upload gets 400; the bounds of routes, devices and rules (a
# pass range from 0, and a block range that leaves 0 out, held by gateway
# A's policy stage, or by B's alone when its rules are stricter) end a
# chunked upload with 413, the device reading nothing past them, and cut
# a chunked answer short; a device that answers early and closes while
# its client has stopped sending has its answer reach the client at once,
# and one that waits for the rest has the client get 504 by A's timer;
# a client that leaves a long download or upload, a bad chunk, and a
# rule's cut of an answer have the device's connection closed at once (a
# cancel), not by the device's timer.
# Then each adapter's peak RSS (VmHWM) is held against its bound.
#
#   stream.sh XGWD XGWCTL XGW-HTTP SRCDIR
set -u
src=$(readlink -f "$4")
here=$src/tests/e2e-http
. "$here/http2gw.sh" "$@"
test_name=http-stream

"$py" "$here/stream.py" "$gw_port" "$t/dev.log" "$t" >"$t/stream.out" 2>&1
rc=$?
sed 's/^/http-stream:   /' "$t/stream.out"
[ $rc -eq 0 ] || die "stream: $(grep -E 'FAIL|Error' "$t/stream.out" | head -10)"
ok "5 MiB both ways, byte-exact; a denied head moves no body"

# Memory per stream is bounded by the window, not by the body: each
# adapter peaks far below one body (5 MiB) after some 40 MiB went through
# it.  Under ASan the peak is its quarantine of freed memory, not ours:
# the figures are printed and the bound is held in the plain build.
asan=0
ldd "$3" | grep -q libasan && asan=1
for g in a b; do
	pid=$(pgrep -P "$(eval echo \$pid_$g)" -f xgw-http | head -1)
	[ -n "$pid" ] || die "no xgw-http under gateway $g"
	hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
	echo "http-stream:   xgw-http $g: VmHWM $hwm kB"
	[ $asan = 1 ] || [ "$hwm" -lt 12288 ] || die "xgw-http $g peaked at $hwm kB"
done
if [ $asan = 1 ]; then
	ok "adapters' peak RSS printed (ASan build: the bound is checked in the plain build)"
else
	ok "adapters' peak RSS below 12 MiB"
fi
! grep -E 'Sanitizer|runtime error' "$t/a.log" "$t/b.log" ||
	die "a sanitizer reported an error (above)"
echo "http-stream: all passed"
