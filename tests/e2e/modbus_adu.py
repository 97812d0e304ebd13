"""Raw Modbus/TCP for the two-gateway tests' inline checks (PYTHONPATH=tests/e2e),
so that they frame and read ADUs one way."""
import socket
import struct
import time


def adu(tid, unit, fc, body):
    return struct.pack(">HHHBB", tid, 0, len(body) + 2, unit, fc) + body


def exchange(port, req):
    """REQ on a new connection to 127.0.0.1 PORT; the whole answer."""
    s = socket.create_connection(("127.0.0.1", port), 3)
    s.settimeout(5)
    s.sendall(req)
    hdr = s.recv(7, socket.MSG_WAITALL)
    rest = s.recv(struct.unpack(">H", hdr[4:6])[0] - 1, socket.MSG_WAITALL)
    s.close()
    return hdr + rest


def refused_at_once(port, tid, unit, what):
    """A read for UNIT gets exception 0x0A (no path) within a second."""
    t0 = time.time()
    rsp = exchange(port, adu(tid, unit, 3, struct.pack(">HH", 0, 1)))
    assert rsp == adu(tid, unit, 0x83, b"\x0a") and time.time() - t0 < 1, \
        "%s: %s" % (what, rsp.hex())
