"""Real Modbus/TCP clients against xgw-modbus, checked against plcsim.

usage: /usr/bin/python3 clients.py GW-PORT PLC-LOG ADAPTER-LOG

Every public read/write function through pymodbus (fc 1-6, 15, 16) and raw
sockets (fc 17, 22, 23 and a user-defined code: Debian 12's pymodbus 3.0.0rc1
client mishandles 22 and 23), the same through mbpoll, and each time the ADU
plcsim logged must equal the client's, byte for byte, except the transaction
id.  Then: colliding transaction ids of concurrent clients, pipelining, a
dead unit (0x0B within its device timeout), a slow unit that answers while
another is served, the gateway failures (0x0A, 0x0B), malformed input.
"""

import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

from pymodbus.client import ModbusTcpClient

GW = int(sys.argv[1])
PLC_LOG = sys.argv[2]
ADAPTER_LOG = sys.argv[3]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what, flush=True)


def reg(a):
    return (a * 7 + 1) & 0xFFFF


def bit(a):
    return a % 3 == 0


def adu(tid, unit, fc, body=b""):
    return struct.pack(">HHHBB", tid, 0, 2 + len(body), unit, fc) + body


class PlcLog:
    """The ADUs plcsim logged since the last look."""

    def __init__(self):
        self.seen = 0

    def new(self):
        with open(PLC_LOG) as f:
            lines = f.read().split()
        fresh = lines[self.seen:]
        self.seen = len(lines)
        return [bytes.fromhex(x) for x in fresh]

    def expect(self, want, what):
        """Exactly the ADU want reached the PLC, tid aside."""
        time.sleep(0.02)
        got = self.new()
        check(len(got) == 1 and got[0][2:] == want[2:],
              "%s: PLC received %s, expected %s (tid aside)" %
              (what, [g.hex() for g in got], want.hex()))


plc = PlcLog()


def recv_adu(s):
    head = b""
    while len(head) < 6:
        chunk = s.recv(6 - len(head))
        if not chunk:
            return None
        head += chunk
    n = struct.unpack(">H", head[4:6])[0]
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return head + body


def conn():
    s = socket.create_connection(("127.0.0.1", GW), 3)
    s.settimeout(3)
    return s


def exchange(s, req):
    s.sendall(req)
    return recv_adu(s)


def exception_of(rsp, req):
    """The exception code of rsp to req, None when it is no exception."""
    check(rsp is not None and rsp[:2] == req[:2] and rsp[6] == req[6],
          "answer %s to %s: tid or unit differ" %
          (rsp.hex() if rsp else None, req.hex()))
    if rsp is None or rsp[7] != (req[7] | 0x80):
        return None
    return rsp[8]


def pymodbus_functions():
    c = ModbusTcpClient("127.0.0.1", port=GW, timeout=3)
    check(c.connect(), "pymodbus connects")
    plc.new()

    r = c.read_coils(3, 20, slave=1)
    check(not r.isError() and r.bits[:20] == [bit(a) for a in range(3, 23)],
          "fc 1 read coils: %s" % r)
    plc.expect(adu(0, 1, 1, struct.pack(">HH", 3, 20)), "fc 1")

    r = c.read_discrete_inputs(10, 15, slave=1)
    check(not r.isError() and r.bits[:15] == [bit(a) for a in range(10, 25)],
          "fc 2 read discrete inputs: %s" % r)
    plc.expect(adu(0, 1, 2, struct.pack(">HH", 10, 15)), "fc 2")

    r = c.read_holding_registers(100, 10, slave=1)
    check(not r.isError() and r.registers == [reg(a) for a in range(100, 110)],
          "fc 3 read holding registers: %s" % r)
    plc.expect(adu(0, 1, 3, struct.pack(">HH", 100, 10)), "fc 3")

    r = c.read_input_registers(9990, 10, slave=1)
    check(not r.isError() and r.registers == [reg(a) for a in range(9990, 10000)],
          "fc 4 read input registers: %s" % r)
    plc.expect(adu(0, 1, 4, struct.pack(">HH", 9990, 10)), "fc 4")

    r = c.write_coil(5000, True, slave=1)
    check(not r.isError(), "fc 5 write single coil: %s" % r)
    plc.expect(adu(0, 1, 5, struct.pack(">HH", 5000, 0xFF00)), "fc 5")

    r = c.write_register(5001, 4242, slave=1)
    check(not r.isError(), "fc 6 write single register: %s" % r)
    plc.expect(adu(0, 1, 6, struct.pack(">HH", 5001, 4242)), "fc 6")

    coils = [True, False, True, True, False, False, True, False, True]
    r = c.write_coils(5010, coils, slave=1)
    check(not r.isError(), "fc 15 write multiple coils: %s" % r)
    plc.expect(adu(0, 1, 15, struct.pack(">HHBBB", 5010, 9, 2, 0x4D, 0x01)),
               "fc 15")

    r = c.write_registers(5020, [1, 2, 3, 65535], slave=1)
    check(not r.isError(), "fc 16 write multiple registers: %s" % r)
    plc.expect(adu(0, 1, 16, struct.pack(">HHBHHHH", 5020, 4, 8, 1, 2, 3,
                                         65535)), "fc 16")

    # the writes took effect on the PLC
    r = c.read_coils(5000, 1, slave=1)
    check(not r.isError() and r.bits[0], "fc 5 wrote coil 5000: %s" % r)
    r = c.read_coils(5010, 9, slave=1)
    check(not r.isError() and r.bits[:9] == coils, "fc 15 wrote: %s" % r)
    r = c.read_holding_registers(5020, 4, slave=1)
    check(not r.isError() and r.registers == [1, 2, 3, 65535],
          "fc 16 wrote: %s" % r)
    c.close()
    plc.new()


def raw_functions():
    s = conn()
    plc.new()

    # fc 6 then fc 22: result = (current & and) | (or & ~and)
    exchange(s, adu(1, 1, 6, struct.pack(">HH", 5030, 0x1234)))
    plc.new()
    req = adu(0x0102, 1, 22, struct.pack(">HHH", 5030, 0x00F2, 0x0025))
    rsp = exchange(s, req)
    check(rsp == req, "fc 22 mask write register: %s" % (rsp and rsp.hex()))
    plc.expect(req, "fc 22")
    rsp = exchange(s, adu(3, 1, 3, struct.pack(">HH", 5030, 1)))
    want = (0x1234 & 0x00F2) | (0x0025 & ~0x00F2 & 0xFFFF)
    check(rsp is not None and rsp[9:11] == struct.pack(">H", want),
          "fc 22 result: %s, expected %04x" % (rsp and rsp.hex(), want))
    plc.new()

    req = adu(0xBEEF, 1, 23, struct.pack(">HHHHBHH", 300, 3, 5040, 2, 4, 7, 8))
    rsp = exchange(s, req)
    check(rsp == adu(0xBEEF, 1, 23, struct.pack(">BHHH", 6, reg(300),
                                                reg(301), reg(302))),
          "fc 23 read/write multiple registers: %s" % (rsp and rsp.hex()))
    plc.expect(req, "fc 23")
    rsp = exchange(s, adu(4, 1, 3, struct.pack(">HH", 5040, 2)))
    check(rsp is not None and rsp[9:] == struct.pack(">HH", 7, 8),
          "fc 23 wrote 5040: %s" % (rsp and rsp.hex()))
    plc.new()

    req = adu(0x1717, 1, 17)
    rsp = exchange(s, req)
    check(rsp is not None and rsp[:2] == req[:2] and rsp[7] == 17 and
          rsp[8] == len(rsp) - 9 and b"LMB" in rsp,
          "fc 17 report server id: %s" % (rsp and rsp.hex()))
    plc.expect(req, "fc 17")

    # a code libmodbus does not serve: its exception 1 comes back as it was
    req = adu(0x4141, 1, 0x41)
    rsp = exchange(s, req)
    check(exception_of(rsp, req) == 1,
          "fc 65: exception 1 from the PLC expected: %s" % (rsp and rsp.hex()))
    plc.expect(req, "fc 65")
    s.close()


def mbpoll(*args, write=()):
    out = subprocess.run(["mbpoll", "-m", "tcp", "-p", str(GW), "-0", "-1",
                          "-o", "2"] + list(args) + ["127.0.0.1"] +
                         list(write), capture_output=True, text=True,
                         timeout=20)
    values = {int(a): int(v) for a, v in
              re.findall(r"^\[(\d+)\]:\s+(-?\d+)", out.stdout, re.M)}
    return out.returncode, values, out.stdout + out.stderr


def mbpoll_functions():
    plc.new()
    for t, fc in (("0", 1), ("1", 2), ("3", 4), ("4", 3)):
        rc, v, out = mbpoll("-a", "1", "-t", t, "-r", "30", "-c", "6")
        if fc in (1, 2):
            want = {a: int(bit(a)) for a in range(30, 36)}
        else:
            want = {a: reg(a) for a in range(30, 36)}
        check(rc == 0 and v == want, "mbpoll -t %s: %s" % (t, out))
        plc.expect(adu(0, 1, fc, struct.pack(">HH", 30, 6)), "mbpoll fc %d" % fc)

    rc, v, out = mbpoll("-a", "1", "-t", "4", "-r", "5100",
                       write=("111", "222"))
    check(rc == 0, "mbpoll writes registers: %s" % out)
    plc.expect(adu(0, 1, 16, struct.pack(">HHBHH", 5100, 2, 4, 111, 222)),
               "mbpoll fc 16")
    rc, v, out = mbpoll("-a", "1", "-t", "4", "-r", "5100", "-c", "2")
    check(rc == 0 and v == {5100: 111, 5101: 222}, "mbpoll reads back: %s" % out)
    plc.new()

    rc, v, out = mbpoll("-a", "1", "-t", "0", "-r", "5200", write=("1",))
    check(rc == 0, "mbpoll writes a coil: %s" % out)
    got = plc.new()
    check(len(got) == 1 and got[0][7] in (5, 15) and
          struct.unpack(">H", got[0][8:10])[0] == 5200,
          "mbpoll coil write reached the PLC: %s" % [g.hex() for g in got])


def concurrent_clients():
    """Eight clients with the same transaction ids: nobody gets another's answer."""
    errors = []

    def client(k):
        s = conn()
        for i in range(40):
            a = k * 200 + i
            rsp = exchange(s, adu(i, 1, 3, struct.pack(">HH", a, 3)))
            if rsp != adu(i, 1, 3, struct.pack(">BHHH", 6, reg(a), reg(a + 1),
                                                reg(a + 2))):
                errors.append("client %d request %d: %s" %
                              (k, i, rsp and rsp.hex()))
        s.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, "concurrent clients: %s" % errors[:3])
    plc.new()


def pipelined():
    """Ten requests at once on one connection, each answered with its own tid."""
    s = conn()
    reqs = {100 + i: 400 + 10 * i for i in range(10)}
    s.sendall(b"".join(adu(t, 1, 3, struct.pack(">HH", a, 2))
                       for t, a in reqs.items()))
    for _ in range(len(reqs)):
        rsp = recv_adu(s)
        t = rsp and struct.unpack(">H", rsp[:2])[0]
        a = reqs.pop(t, None)
        check(a is not None and
              rsp == adu(t, 1, 3, struct.pack(">BHH", 4, reg(a), reg(a + 1))),
              "pipelined answer %s" % (rsp and rsp.hex()))
    s.close()
    plc.new()


def dead_and_slow_units():
    s = conn()
    req = adu(0x0303, 3, 3, struct.pack(">HH", 0, 1))
    t0 = time.time()
    rsp = exchange(s, req)
    dt = time.time() - t0
    check(exception_of(rsp, req) == 0x0B and 0.4 <= dt <= 0.9,
          "dead unit 3: exception 11 within its 500ms timeout, got %s after %.3fs"
          % (rsp and rsp.hex(), dt))
    plc.expect(req, "the dead unit's request reached the PLC")

    # unit 2 answers after 300ms; unit 1 is served meanwhile
    slow, other = conn(), conn()
    req = adu(0x0202, 2, 3, struct.pack(">HH", 50, 2))
    t0 = time.time()
    slow.sendall(req)
    for i in range(5):
        rsp = exchange(other, adu(i, 1, 3, struct.pack(">HH", 60 + i, 1)))
        check(rsp == adu(i, 1, 3, struct.pack(">BH", 2, reg(60 + i))),
              "unit 1 while unit 2 is slow: %s" % (rsp and rsp.hex()))
    busy = time.time() - t0
    rsp = recv_adu(slow)
    dt = time.time() - t0
    check(busy < 0.25, "unit 1 served within %.3fs while unit 2 was slow" % busy)
    check(rsp == adu(0x0202, 2, 3, struct.pack(">BHH", 4, reg(50), reg(51)))
          and 0.28 <= dt < 1.0,
          "slow unit 2 answers within its 1s timeout: %s after %.3fs"
          % (rsp and rsp.hex(), dt))
    for x in (s, slow, other):
        x.close()
    plc.new()


def gateway_failures():
    s = conn()
    cases = [
        (9, 0x0A, 0.0, 0.3, "no route for unit 9"),
        (4, 0x0A, 0.0, 0.3, "xgwd says link-down"),
        (6, 0x0A, 0.0, 0.6, "device 6 cannot be reached"),
        (5, 0x0B, 1.3, 2.2, "the request is lost on the way (1500ms timeout)"),
    ]
    for unit, code, lo, hi, what in cases:
        req = adu(0x0900 + unit, unit, 4, struct.pack(">HH", 0, 1))
        t0 = time.time()
        rsp = exchange(s, req)
        dt = time.time() - t0
        check(exception_of(rsp, req) == code and lo <= dt <= hi,
              "%s: exception %d expected in %.1f..%.1fs, got %s after %.3fs"
              % (what, code, lo, hi, rsp and rsp.hex(), dt))
    s.close()
    check(plc.new() == [], "no failed request reached the PLC")


def malformed():
    bystander = conn()
    s = conn()
    req = adu(0x0777, 1, 3, struct.pack(">HH", 0, 0))
    rsp = exchange(s, req)
    check(exception_of(rsp, req) == 3,
          "qty 0: exception 3 expected, got %s" % (rsp and rsp.hex()))
    req = adu(0x0778, 1, 3, struct.pack(">HH", 7, 1))
    rsp = exchange(s, req)
    check(rsp == adu(0x0778, 1, 3, struct.pack(">BH", 2, reg(7))),
          "the same connection goes on after a malformed ADU: %s"
          % (rsp and rsp.hex()))
    plc.expect(req, "only the good request reached the PLC")
    s.close()

    for junk, what in ((b"GET / HTTP/1.0\r\n\r\n", "garbage"),
                       (bytes.fromhex("000100000" "0ff0103"), "length 255")):
        s = conn()
        s.sendall(junk)
        try:
            rest = s.recv(64)
        except OSError as e:
            rest = repr(e)
        check(rest == b"", "%s: connection closed without an answer, got %r"
              % (what, rest))
        s.close()

    req = adu(0x0999, 1, 4, struct.pack(">HH", 8, 1))
    rsp = exchange(bystander, req)
    check(rsp == adu(0x0999, 1, 4, struct.pack(">BH", 2, reg(8))),
          "another client is served after the bad ones: %s" % (rsp and rsp.hex()))
    bystander.close()
    plc.new()
    with open(ADAPTER_LOG) as f:
        log = f.read()
    check("malformed request, bad-value" in log, "the malformed ADU is logged")
    check(log.count("not Modbus/TCP") >= 2, "the two bad streams are logged")


STEPS = (pymodbus_functions, raw_functions, mbpoll_functions,
         concurrent_clients, pipelined, dead_and_slow_units,
         gateway_failures, malformed)
# CLIENTS_STEPS=a,b picks steps by name (the two-gateway test has no stand-in
# xgwd to lose requests on purpose); a name that is not a step is an error.
wanted = os.environ.get("CLIENTS_STEPS")
if wanted:
    names = {f.__name__: f for f in STEPS}
    unknown = [n for n in wanted.split(",") if n not in names]
    if unknown:
        sys.exit("clients.py: no such step: %s" % ", ".join(unknown))
    STEPS = [names[n] for n in wanted.split(",")]
for step in STEPS:
    t0, before = time.time(), len(failures)
    plc.new()
    try:
        step()
    except Exception as e:  # a step that cannot run fails, saying why
        check(False, "%s: %s: %s" % (step.__name__, type(e).__name__, e))
    print("%-20s %s %.2fs" % (step.__name__, "ok" if len(failures) == before
                              else "FAILED", time.time() - t0), flush=True)
print("%d checks failed" % len(failures))
sys.exit(1 if failures else 0)
