#!/bin/bash
# xgw-modbus polling end to end, without XMPP:
#
#   xgw-modbus (poll) -> plcsim (registers address * 7 + 1, bits 1 where
#     address % 3 == 0; unit 3 dead) and a port nobody listens on
#   xgw-modbus -> fakexgwd -e: the readings events, taken as xgwd takes them
#
# Checks: each cycle reads the PLC with the merged requests and nothing
# else (plcsim's log), cycles come at the interval, every reading has the
# PLC's value with its type and scale, a dead unit and an unreachable
# device give readings of quality bad at the interval, an exception from
# the PLC gives quality bad with its code, every <readings> validates
# against transforms/readings.xsd, and a request from a client is served
# in between the polls.
#
# usage: poll.sh XGW-MODBUS PLCSIM FAKEXGWD SRCDIR
set -eu

if [ $# -ne 4 ]; then
	echo "usage: poll.sh xgw-modbus plcsim fakexgwd srcdir" >&2
	exit 2
fi
adapter=$1 plcsim=$2 fakexgwd=$3 src=$4
. "$src/tests/e2e/lib.sh"
test_setup poll gw.err
secs=3			# how long the adapter polls
every_ms=200

command -v xmllint >/dev/null ||
	die "xmllint is not installed (Debian package libxml2-utils; tests/deps.sh)"
[ -x "$py" ] || die "$py is missing (Debian package python3)"
"$fakexgwd" 2>&1 | grep -q -- '-e events' ||
	die "$fakexgwd does not take -e (events): it cannot receive readings"

set -- $(free_ports 3)
plc_port=$1 gw_port=$2 closed_port=$3

plcsim_start "$plc_port" -d

d1=urn:uuid:11111111-1111-4111-8111-111111111111
d3=urn:uuid:33333333-3333-4333-8333-333333333333
d6=urn:uuid:66666666-6666-4666-8666-666666666666
cat >"$t/block.conf" <<EOF
adapter modbus {
	listen 127.0.0.1 port $gw_port
	route "unit 1" to $d1
	device $d1 host 127.0.0.1 port $plc_port unit 1 timeout 500ms
	device $d3 host 127.0.0.1 port $plc_port unit 3 timeout 100ms
	device $d6 host 127.0.0.1 port $closed_port unit 6 timeout 100ms
	poll $d1 every ${every_ms}ms {
		holding 100 count 2 name "boiler-temp" type int16 unit "Cel" scale 0.1
		holding 102 type uint32 name energy unit "kW.h"
		holding 101 name overlap scale 1000
		input 10 count 3 name flow scale -2.5 unit "m3/h"
		coil 5 name pump
		coil 6 count 4 name valve
		discrete 9000 count 2 name door
		holding 20000 name beyond
	}
	poll $d3 every ${every_ms}ms { holding 1 name dead }
	poll $d6 every ${every_ms}ms { coil 1 name away }
}
EOF

"$fakexgwd" -c "$t/block.conf" -u nobody -e "$t/events" \
    "$adapter" 2>"$t/gw.err" &
gw_pid=$!
pids+=("$gw_pid")
wait_for 10 listening "$gw_port" || die "the adapter does not listen on port $gw_port"
sleep "$secs"
kill "$gw_pid"
wait "$gw_pid" || die "fakexgwd found violations"
grep -q VIOLATION "$t/gw.err" && die "$(grep VIOLATION "$t/gw.err")"
# what the PLC saw of the polls alone
cp "$t/plc.log" "$t/plc.polls"

# a client's reads are served between the polls (a second run, so that
# the PLC's log of the first holds the polls alone)
"$fakexgwd" -c "$t/block.conf" -u nobody -e "$t/events2" \
    "$adapter" 2>"$t/gw2.err" &
gw_pid=$!
pids+=("$gw_pid")
wait_for 10 listening "$gw_port" || die "the adapter does not listen on port $gw_port"
"$py" - "$gw_port" <<'EOF' || die "a client's read during polling was not answered right"
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)
s.settimeout(2)
for tid in range(1, 21):
    s.sendall(struct.pack(">HHHBBHH", tid, 0, 6, 1, 3, 500, 2))
    a = b""
    while len(a) < 13:
        a += s.recv(13 - len(a))
    if a != struct.pack(">HHHBBBHH", tid, 0, 7, 1, 3, 4, 3501, 3508):
        sys.exit("answer %s" % a.hex())
EOF
kill "$gw_pid"
wait "$gw_pid" || die "fakexgwd found violations (with a client)"

"$py" - "$t" "$src/transforms/readings.xsd" "$secs" "$every_ms" <<'EOF'
import re, subprocess, sys
import xml.etree.ElementTree as ET
from datetime import datetime

tmp, xsd, secs, every = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
D1 = "urn:uuid:11111111-1111-4111-8111-111111111111"
D3 = "urn:uuid:33333333-3333-4333-8333-333333333333"
D6 = "urn:uuid:66666666-6666-4666-8666-666666666666"
NS = "{urn:xgw:readings:1}"
bad = []

def reg(a):
    return (a * 7 + 1) & 0xffff

def bit(a):
    return "true" if a % 3 == 0 else "false"

def s16(v):
    return v - 65536 if v >= 32768 else v

# what the PLC holds, as each point reads it
want = {
    "boiler-temp[0]": "%.1f" % (s16(reg(100)) / 10),
    "boiler-temp[1]": "%.1f" % (s16(reg(101)) / 10),
    "energy": str(reg(102) << 16 | reg(103)),
    "overlap": str(reg(101) * 1000),
    "flow[0]": "%.1f" % (reg(10) * -2.5),
    "flow[1]": "%.1f" % (reg(11) * -2.5),
    "flow[2]": "%.1f" % (reg(12) * -2.5),
    "pump": bit(5),
    "valve[0]": bit(6), "valve[1]": bit(7), "valve[2]": bit(8),
    "valve[3]": bit(9),
    "door[0]": bit(9000), "door[1]": bit(9001),
}

# 1. the PLC saw, per cycle, the merged reads of unit 1 and nothing else
# (tid aside): coils 5..9, discrete 9000..9001, holding 100..103,
# holding 20000, input 10..12; unit 3 one read of holding 1
cycle = ["0000000601" + "0100050005", "0000000601" + "02232800" + "02",
         "0000000601" + "0300640004", "0000000601" + "034e200001",
         "0000000601" + "04000a0003"]
plc = open(tmp + "/plc.polls").read().split()
u1 = [l[4:] for l in plc if l[12:14] == "01"]
u3 = [l[4:] for l in plc if l[12:14] == "03"]
if len(u1) < 2 * len(cycle):
    bad.append("the PLC saw %d reads of unit 1: not two cycles" % len(u1))
# the last cycle may have been cut by the end of the run
for i, a in enumerate(u1):
    if a != cycle[i % len(cycle)]:
        bad.append("read %d of unit 1: the PLC saw %s, expected %s" %
                   (i + 1, a, cycle[i % len(cycle)]))
        break
if set(u3) != {"0000000603" + "0300010001"}:
    bad.append("unit 3: the PLC saw %s" % sorted(set(u3)))

# 2. the events: one per cycle and device, each <readings> valid
events = {D1: [], D3: [], D6: []}
texts = []
for line in open(tmp + "/events"):
    pdu = ET.fromstring(line)
    if pdu.get("dir") != "event":
        bad.append("not an event: " + line[:80])
        continue
    rs = pdu.find(NS + "readings")
    events.setdefault(pdu.get("src"), []).append(rs)
    texts.append(re.search(r"<readings.*</readings>", line).group(0))
with open(tmp + "/readings.xml", "w") as f:
    f.write('<w xmlns:r="urn:xgw:readings:1">' + "".join(texts) + "</w>")
for i, t in enumerate(texts):
    with open("%s/r%d.xml" % (tmp, i), "w") as f:
        f.write(t)
r = subprocess.run(["xmllint", "--noout", "--schema", xsd] +
                   ["%s/r%d.xml" % (tmp, i) for i in range(len(texts))],
                   capture_output=True, text=True)
if r.returncode != 0:
    bad.append("readings.xsd: " + r.stderr.strip().splitlines()[0])

def ts(r):
    return datetime.strptime(r.get("ts"), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()

def interval(device, evs):
    # the cycles come at the interval: their count over the run, and the
    # mean and the largest gap between the first readings of each
    expect = secs * 1000 / every
    if not expect * 0.7 <= len(evs) <= expect + 2:
        bad.append("%s: %d events in %gs, expected about %d" %
                   (device, len(evs), secs, expect))
    t = [ts(e.find(NS + "r")) for e in evs]
    gaps = [b - a for a, b in zip(t, t[1:])]
    if gaps and not (0.8 * every <= 1000 * sum(gaps) / len(gaps) <= 1.2 * every
                     and max(gaps) * 1000 < 2 * every):
        bad.append("%s: cycles %s ms apart, expected %d" %
                   (device, [round(g * 1000) for g in gaps], every))
    print("poll: ok: %s: %d events, mean interval %.0f ms" %
          (device, len(evs), 1000 * sum(gaps) / max(len(gaps), 1)))

for d in (D1, D3, D6):
    interval(d, events[d])

# 3. the values
for e in events[D1]:
    got = {r.get("name"): r for r in e.findall(NS + "r")}
    if set(got) != set(want) | {"beyond"}:
        bad.append("readings %s, expected %s" % (sorted(got), sorted(want)))
        break
    for name, v in want.items():
        r = got[name]
        if r.get("quality") != "good" or r.get("value") != v:
            bad.append("%s: %s, expected value %s quality good" %
                       (name, r.attrib, v))
    b = got["beyond"]
    if b.get("quality") != "bad" or b.get("error") != "exception-2" or \
            b.get("value") is not None:
        bad.append("beyond: %s, expected quality bad error exception-2" % b.attrib)
    if got["boiler-temp[0]"].get("unit") != "Cel" or \
            got["boiler-temp[0]"].get("scale") != "0.1" or \
            got["boiler-temp[0]"].get("type") != "int16" or \
            got["energy"].get("scale") is not None or \
            got["pump"].get("type") != "bool":
        bad.append("types, units, scales: %s %s %s" % (
            got["boiler-temp[0]"].attrib, got["energy"].attrib, got["pump"].attrib))
    if bad:
        break
print("poll: ok: %d cycles of unit 1 with the PLC's values" % len(events[D1]))

# 4. the dead unit and the unreachable device: bad, with why, no value
for d, name, err in ((D3, "dead", "no-answer"), (D6, "away", "unreachable")):
    for e in events[d]:
        r = e.find(NS + "r")
        if (r.get("name"), r.get("quality"), r.get("error"), r.get("value")) != \
                (name, "bad", err, None):
            bad.append("%s: %s, expected quality bad error %s" % (d, r.attrib, err))
            break
print("poll: ok: a dead unit and an unreachable device read bad")

for b in bad:
    print("poll: FAIL: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
tail -n 1 "$t/gw.err"
