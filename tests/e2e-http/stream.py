"""The clients of the HTTP streaming test, in front of gateway A: bodies
too large for one stanza cross the gateways in parts, both ways, and
arrive byte for byte.  Checked against the device's log (devsim.py logs
the SHA-256 of exchanges above 1 MiB) and against what was sent.

    stream.py PORT DEVLOG WORKDIR [SIZE]

SIZE is the body size (5 MiB).  STREAM_STEPS (comma-separated) picks the
steps.
"""
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time

PORT, DEVLOG, WORK = int(sys.argv[1]), sys.argv[2], sys.argv[3]
SIZE = int(sys.argv[4]) if len(sys.argv) > 4 else 5 << 20
BASE = "http://127.0.0.1:%d" % PORT
failures = []
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from devsim import gen_body, gen_chunked  # noqa: E402  the device's own bytes


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def device_log():
    with open(DEVLOG) as f:
        return [json.loads(line) for line in f]


def wait_log(n, secs=10):
    end = time.time() + secs
    while time.time() < end:
        log = device_log()
        if len(log) >= n:
            return log
        time.sleep(0.05)
    return device_log()


def curl(*args, data=None):
    """curl's status and body."""
    out = os.path.join(WORK, "curl.out")
    p = subprocess.run(["curl", "-s", "--max-time", "60", "-o", out,
                        "-w", "%{http_code}"] + list(args), input=data,
                       capture_output=True)
    with open(out, "rb") as f:
        return p.stdout.decode(), f.read()


def upload_body():
    # not the device's pattern: the two directions differ
    return bytes((i * 7 + (i >> 12)) & 0xff for i in range(SIZE))


def sink_says(body):
    return ("%s %d\n" % (sha(body), len(body))).encode()


def step_upload_length(body, path):
    n = len(device_log())
    code, got = curl("-T", path, BASE + "/dev/sink")
    check(code == "200" and got == sink_says(body),
          "upload of %d bytes with Content-Length: the device read them all "
          "(%s %r)" % (len(body), code, got[:80]))
    log = wait_log(n + 1)
    check(len(log) == n + 1 and log[-1].get("req_len", 0) > len(body),
          "upload with Content-Length: one request at the device")


def step_upload_curl_chunked(body, path):
    with open(path, "rb") as f:
        code, got = curl("-T", "-", "-H", "Transfer-Encoding: chunked",
                         BASE + "/dev/sink", data=f.read())
    check(code == "200" and got == sink_says(body),
          "chunked upload by curl: the device read the body (%s %r)"
          % (code, got[:80]))


class Reader:
    """Responses from one connection, one at a time (framed by
    Content-Length, chunks or the close); bytes past one stay for the next."""

    def __init__(self, s):
        self.s, self.buf = s, bytearray()

    def fill(self):
        d = self.s.recv(1 << 20)
        self.buf += d
        return bool(d)

    def take(self, n):
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            if not self.fill():
                return self.take(len(self.buf))
        head = bytes(self.buf).partition(b"\r\n\r\n")[0]
        lower, start = head.lower(), len(head) + 4
        while True:
            if b"content-length:" in lower:
                cl = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
                if len(self.buf) >= start + cl:
                    return self.take(start + cl)
            elif b"transfer-encoding: chunked" in lower:
                end = chunked_end(bytes(self.buf[start:]))
                if end is not None:
                    return self.take(start + end)
            if not self.fill():
                return self.take(len(self.buf))


def read_response(s):
    return Reader(s).response()


def chunked_end(b):
    """The length of a whole chunked body at the start of b, or None."""
    i = 0
    while True:
        e = b.find(b"\r\n", i)
        if e < 0:
            return None
        size = int(b[i:e].split(b";")[0], 16)
        if size == 0:
            t = b.find(b"\r\n\r\n", e)
            if b[e:e + 4] == b"\r\n\r\n":
                return e + 4
            return t + 4 if t >= 0 else None
        i = e + 2 + size + 2
        if i > len(b):
            return None


def chunks_within(b, bound):
    """The data bytes of the whole chunks of chunked body b within bound."""
    i = total = 0
    while True:
        e = b.index(b"\r\n", i)
        size = int(b[i:e].split(b";")[0], 16)
        if size == 0 or total + size > bound:
            return total
        total += size
        i = e + 2 + size + 2


def step_upload_raw_chunked(body):
    """Chunk lines, extensions and trailers reach the device exactly."""
    n = len(device_log())
    head = (b"POST /dev/sink HTTP/1.1\r\nHost: device\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    sent = head + gen_chunked(body)
    with socket.create_connection(("127.0.0.1", PORT), 10) as s:
        s.settimeout(60)
        s.sendall(sent)
        rsp = read_response(s)
    check(rsp.endswith(b"\r\n\r\n" + sink_says(body)),
          "raw chunked upload: answered with the body's digest (%r)" % rsp[-80:])
    log = wait_log(n + 1)
    e = log[-1] if len(log) == n + 1 else {}
    check(e.get("req_sha256") == sha(sent) and e.get("req_len") == len(sent),
          "raw chunked upload: the device read the %d bytes sent, chunk lines, "
          "extensions and trailer included" % len(sent))


def step_download(mode):
    n = len(device_log())
    want = gen_body(SIZE)
    code, got = curl(BASE + "/dev/gen?n=%d&mode=%s" % (SIZE, mode))
    check(code == "200" and sha(got) == sha(want),
          "download of %d bytes (%s) by curl: byte for byte (%s, %d bytes)"
          % (SIZE, mode, code, len(got)))
    with socket.create_connection(("127.0.0.1", PORT), 10) as s:
        s.settimeout(60)
        s.sendall(b"GET /dev/gen?n=%d&mode=%s HTTP/1.1\r\nHost: device\r\n\r\n"
                  % (SIZE, mode.encode()))
        rsp = read_response(s)
    log = wait_log(n + 2)
    e = log[-1] if len(log) == n + 2 else {}
    check(e.get("rsp_sha256") == sha(rsp) and e.get("rsp_len") == len(rsp),
          "download (%s) on a raw socket: the %d bytes the device wrote, "
          "head, chunk lines and trailer included" % (mode, len(rsp)))


def step_keepalive():
    """After a streamed answer the connection, and the device's, carry the next request."""
    with socket.create_connection(("127.0.0.1", PORT), 10) as s:
        s.settimeout(30)
        r = Reader(s)
        s.sendall(b"GET /dev/gen?n=%d&mode=chunked HTTP/1.1\r\nHost: d\r\n\r\n"
                  % SIZE)
        first = r.response()
        s.sendall(b"GET /dev/hello HTTP/1.1\r\nHost: d\r\n\r\n")
        second = r.response()
    check(first.endswith(b"X-Sum: " + sha(gen_body(SIZE)).encode() + b"\r\n\r\n"),
          "a streamed answer on a kept-alive connection: whole")
    check(second.endswith(b"hello, world\n"), "then the next request's answer (%r)"
          % second[-40:])


def step_echo(body, path):
    """A streamed upload whose answer is streamed back: one exchange."""
    code, got = curl("-T", path, BASE + "/dev/echo")
    check(code == "200" and sha(got) == sha(body),
          "upload answered by a streamed download of the same %d bytes (%s, %d)"
          % (len(body), code, len(got)))


def step_denied(path):
    n = len(device_log())
    code, got = curl("-X", "DELETE", "-T", path, BASE + "/dev/sink")
    check(code == "403", "DELETE with a %d-byte body: 403 from the policy (%s)"
          % (SIZE, code))
    time.sleep(0.5)
    check(len(device_log()) == n, "DELETE: nothing reached the device")


def step_bad_chunk():
    """A chunk size that is not hex, past the first parts: 400, closed, and
    the device's connection closed at once (/patient: its timer is 10 s)."""
    n = len(device_log())
    body = b"%x\r\n%s\r\n" % (300000, b"a" * 300000) + b"zz\r\n"
    with socket.create_connection(("127.0.0.1", PORT), 10) as s:
        s.settimeout(20)
        s.sendall(b"POST /patient/sink HTTP/1.1\r\nHost: d\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n" + body)
        r = Reader(s)
        rsp = r.response()
        refused = time.time()
        rest = r.take(100) or s.recv(100)
    check(rsp.startswith(b"HTTP/1.1 400 ") and b"bad-chunk-size" in rsp and
          rest == b"", "a bad chunk size inside a streamed upload: 400 and "
          "closed (%r)" % rsp[:60])
    e, after = device_closed(n, "target", "/patient/sink", refused)
    check(e and e["t"] - refused < 1 and
          all("partial" in x for x in device_log()[n:]),
          "the device answered nothing for it; its connection ended inside "
          "the body %s (%s)" % (after, e))


def wait_entry(n, key, secs=5, value=None):
    """The device's log entry past the first n that has key (with value,
    when one is given), or {}."""
    end = time.time() + secs
    while True:
        for e in device_log()[n:]:
            if key in e and value in (None, e[key]):
                return e
        if time.time() > end:
            return {}
        time.sleep(0.05)


def device_closed(n, key, target, since):
    """The device's log entry past the first n whose key is target, and
    when its connection ended: at once, or by the device's timer (10 s on
    /patient)."""
    e = wait_entry(n, key, 12, target)
    return e, "%.2f s later" % (e["t"] - since) if e else "not within 12 s"


def recv_all(s, secs):
    """What the peer sends until it closes or resets, within secs; and how it ended."""
    s.settimeout(secs)
    got = bytearray()
    try:
        while True:
            d = s.recv(1 << 16)
            if not d:
                return bytes(got), "closed"
            got += d
    except ConnectionResetError:
        return bytes(got), "reset"
    except socket.timeout:
        return bytes(got), "timeout"


def post_chunked(target, body, close=False, secs=20):
    """A chunked POST on a raw socket: what came back until the connection
    ended, how it ended, and how long it took."""
    start = time.time()
    with socket.create_connection(("127.0.0.1", PORT), 10) as s:
        s.settimeout(secs)
        s.sendall(b"POST %s HTTP/1.1\r\nHost: d\r\n%s"
                  b"Transfer-Encoding: chunked\r\n\r\n"
                  % (target, b"Connection: close\r\n" if close else b""))
        sender = threading.Thread(target=send_quietly, args=(s, gen_chunked(body)))
        sender.start()
        rsp, how = recv_all(s, secs)
        sender.join()
    return rsp, how, time.time() - start


def send_quietly(s, data):
    """Sends until done or refused: the answer may end the connection first."""
    try:
        s.sendall(data)
    except OSError:
        pass


def check_upload_bound(target, path2m, body2m, what):
    """2 MiB to target, bound to 1M by what: with Content-Length 413 before
    anything reaches the device; chunked 413 and closed, the device having
    read no more than the bound of it."""
    n = len(device_log())
    code, _ = curl("-T", path2m, BASE + target)
    check(code == "413", "2 MiB with Content-Length on %s: 413 (%s)"
          % (what, code))
    time.sleep(0.5)
    check(len(device_log()) == n, "... and nothing reached the device")
    rsp, how, secs = post_chunked(target.encode(), body2m)
    check(rsp.startswith(b"HTTP/1.1 413 ") and how == "closed",
          "2 MiB chunked on %s: 413 and closed (%r, %s)"
          % (what, rsp[:40], how))
    e = wait_entry(n, "partial")
    check(0 < e.get("partial", -1) <= 1 << 20, "... the device read no more "
          "than the bound of its body (%s)" % e)


def check_download_cut(target, what):
    """A chunked answer passing its bound (1 MiB) by what: cut short at
    once, never whole.  When the client saw its end."""
    with socket.create_connection(("127.0.0.1", PORT), 10) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: d\r\n\r\n" % target)
        start = time.time()
        rsp, how = recv_all(s, 15)
        secs = time.time() - start
    body = rsp.partition(b"\r\n\r\n")[2]
    check(rsp.startswith(b"HTTP/1.1 200 ") and how in ("reset", "closed") and
          secs < 2.5 and chunked_end(body) is None and
          len(body) < (1 << 20) + 65536,
          "a chunked answer passing %s: cut short, never whole (%r, %s "
          "after %.1f s, %d body bytes)" % (what, rsp[:20], how, secs,
                                            len(body)))
    return start + secs


def step_route_bound(path2m, body2m):
    """A route's own body-max (1M on /small) binds its requests only."""
    check_upload_bound("/small/sink", path2m, body2m, "a route bound to 1M")
    code, got = curl("-T", path2m, BASE + "/dev/sink")
    check(code == "200" and got == sink_says(body2m),
          "the same 2 MiB on a route with the block's bound: carried (%s)"
          % code)


def step_policy_bound_up(path2m):
    """pass ... body-size 0:1048576 admits a chunked upload up to 1 MiB."""
    n = len(device_log())
    rsp, how, secs = post_chunked(b"/dev/sink?bound=1m", upload_body())
    check(rsp.startswith(b"HTTP/1.1 413 ") and how == "closed" and secs < 5,
          "a chunked upload passing the rule's bound: 413 and closed at once "
          "(%r, %s, %.1f s)" % (rsp[:40], how, secs))
    e = wait_entry(n, "partial")
    check(0 < e.get("partial", -1) <= 1 << 20, "... the device read no more "
          "than the bound, and its connection was closed (%s)" % e)
    rsp, how, secs = post_chunked(b"/dev/sink?bound=1m", upload_body()[:900000],
                                  close=True)
    check(rsp.startswith(b"HTTP/1.1 200 ") and
          rsp.endswith(sink_says(upload_body()[:900000])),
          "a chunked upload within it: carried whole (%r)" % rsp[:40])
    code, _ = curl("-T", path2m, BASE + "/dev/sink?bound=1m")
    check(code == "403", "2 MiB with Content-Length there: its size is "
          "known, no rule admits it, 403 (%s)" % code)


def step_device_bound(path2m, body2m):
    """A device's own body-max (1M, /bounded) binds what it is sent and
    what it answers."""
    check_upload_bound("/bounded/sink", path2m, body2m, "a device bound to 1M")
    code, _ = curl(BASE + "/bounded/gen?n=%d" % (2 << 20))
    check(code == "502", "2 MiB with Content-Length from that device: 502 "
          "(%s)" % code)
    check_download_cut(b"/bounded/gen?n=%d&mode=chunked" % (2 << 20),
                       "the device's bound")


def check_policy_cut(target, low, high, what):
    """A chunked upload to target that a policy stage cuts (what): 413 and
    closed at once, the device having read more than low bytes and at most
    high, its connection (/patient: its timer is 10 s) closed within 1 s
    by the stream's cancel."""
    n = len(device_log())
    rsp, how, secs = post_chunked(target, upload_body())
    cut = time.time()
    check(rsp.startswith(b"HTTP/1.1 413 ") and how == "closed" and secs < 2.5,
          "a chunked upload past %s: 413 and closed at once (%r, %s, %.1f s)"
          % (what, rsp[:40], how, secs))
    e, after = device_closed(n, "target", target.decode(), cut)
    check(e and low < e.get("partial", -1) <= high and e["t"] - cut < 1,
          "... the device read more than %d bytes and at most %d, its "
          "connection closed %s (%s)" % (low, high, after, e))


def step_block_range_up():
    """block ... body-size 1048577:4294967295 holds for a chunked upload:
    gateway A's policy stage cuts it where that rule would stop it."""
    # the chunk announced past byte 1048576 is refused at its size line,
    # with the rest of the part (64 KiB at most) that holds the line
    whole = chunks_within(gen_chunked(upload_body()), 1 << 20)
    check_policy_cut(b"/patient/sink?cut=1m", whole - 65536, whole,
                     "a block range")


def step_strict_b():
    """Gateway B's rules alone bound "strict=1" uploads (512 KiB): B's
    policy stage answers the part past it with 413, back through A."""
    check_policy_cut(b"/patient/sink?strict=1", 0, 1 << 19,
                     "B's stricter bound")


def step_policy_bound_down():
    """pass response ... body-size 0:1048576 bounds a chunked answer; the
    device side, which passed it, is told (/patient: its timer is 10 s)."""
    n = len(device_log())
    target = "/patient/gen?n=%d&mode=chunked&mark=1" % (32 << 20)
    ended = check_download_cut(target.encode(), "the rule's bound")
    e, after = device_closed(n, "aborted", target, ended)
    check(e and e["t"] - ended < 1, "... and the device's connection closed "
          "%s (%s)" % (after, e))
    code, got = curl(BASE + "/dev/gen?n=%d&mode=chunked&mark=1" % 900000)
    check(code == "200" and sha(got) == sha(gen_body(900000)),
          "a chunked answer within it: whole (%s, %d)" % (code, len(got)))


def step_early():
    """The device answers 413 after 200000 bytes of 5 MiB: at once."""
    n = len(device_log())
    start = time.time()
    with socket.create_connection(("127.0.0.1", PORT), 10) as s:
        s.sendall(b"PUT /dev/early?n=200000 HTTP/1.1\r\nHost: d\r\n"
                  b"Content-Length: %d\r\n\r\n" % SIZE)
        sender = threading.Thread(target=send_quietly,
                                  args=(s, upload_body()))
        sender.start()
        rsp, how = recv_all(s, 15)
        secs = time.time() - start
        sender.join()
    check(rsp.startswith(b"HTTP/1.1 413 ") and how == "closed" and secs < 2.5,
          "an answer before the device read the body: at once, then "
          "closed (%r, %s after %.1f s)" % (rsp[:40], how, secs))
    e = wait_entry(n, "early")
    check(e.get("early") == 200000, "... the device had read 200000 "
          "bytes of it (%s)" % e)


def put_and_stop(target):
    """A PUT of SIZE bytes that stops after 200000 of them, its connection
    open: what came back within 15 s, how it ended, and after how long."""
    with socket.create_connection(("127.0.0.1", PORT), 10) as s:
        s.sendall(b"PUT %s HTTP/1.1\r\nHost: d\r\n"
                  b"Content-Length: %d\r\n\r\n" % (target, SIZE) +
                  upload_body()[:200000])
        sent = time.time()
        rsp, how = recv_all(s, 15)
    return rsp, how, time.time() - sent


def step_early_stop():
    """The client sends the head and 200000 bytes of 5 MiB and stops, its
    connection open; the device reads them, answers 413 and closes at
    once: the client has it at once, not by a timer (/patient: the
    device's is 10 s)."""
    n = len(device_log())
    rsp, how, secs = put_and_stop(b"/patient/early?n=200000&close=1")
    check(rsp.startswith(b"HTTP/1.1 413 ") and how == "closed" and secs < 1,
          "a client that stops sending, the device answering early and "
          "closing: the answer within 1 s, then closed (%r, %s after %.2f s)"
          % (rsp[:40], how, secs))
    e = wait_entry(n, "early")
    check(e.get("early") == 200000, "... the device had read the 200000 "
          "bytes sent (%s)" % e)


def step_stall():
    """A client that sends 200000 bytes of 5 MiB and stops, its connection
    open, to a device that waits for the rest (/patient: its timer is 10
    s): 504 by gateway A's timer of the part held (3 s), and the device's
    connection closed at once after it (a cancel)."""
    n = len(device_log())
    rsp, how, secs = put_and_stop(b"/patient/sink")
    answered = time.time()
    check(rsp.startswith(b"HTTP/1.1 504 ") and how == "closed" and
          2.5 < secs < 4.5, "a client that stops inside its body: 504 after "
          "gateway A's 3 s, then closed (%r, %s after %.2f s)"
          % (rsp[:40], how, secs))
    e, after = device_closed(n, "target", "/patient/sink", answered)
    check(e.get("partial") == 200000 and abs(e["t"] - answered) < 1,
          "... the device's connection closed %s, after the 200000 bytes "
          "(%s)" % (after, e))


def step_stale(path, body):
    """A streamed PUT on a kept-alive connection the device drops unread."""
    code, _ = curl(BASE + "/dev/stale")
    check(code == "200", "/dev/stale answered (%s)" % code)
    code, got = curl("-T", path, BASE + "/dev/sink")
    check(code == "200" and got == sink_says(body),
          "then a streamed PUT on that connection, reset unread: sent "
          "again on a new one (%s %r)" % (code, got[:80]))
    # not idempotent: not sent again, and the 502 answers a part at once
    code, _ = curl(BASE + "/dev/stale")
    start = time.time()
    code, got = curl("-X", "POST", "-T", path, BASE + "/dev/sink")
    secs = time.time() - start
    check(code == "502" and secs < 2, "a streamed POST there: 502 at once, "
          "not sent again (%s after %.1f s)" % (code, secs))


def step_cancel():
    """A client reads 100 KiB of a 32 MiB answer and leaves: the device's
    connection is closed at once, not by its timer (10 s on /patient)."""
    n = len(device_log())
    target = "/patient/gen?n=%d" % (32 << 20)
    got = bytearray()
    with socket.create_connection(("127.0.0.1", PORT), 10) as s:
        s.settimeout(10)
        s.sendall(b"GET %s HTTP/1.1\r\nHost: d\r\n\r\n" % target.encode())
        while len(got) < (100 << 10) + 200:
            d = s.recv(1 << 16)
            if not d:
                break
            got += d
    left = time.time()
    e, after = device_closed(n, "aborted", target, left)
    check(got.startswith(b"HTTP/1.1 200 ") and len(got) > 100 << 10 and
          e and e["t"] - left < 1,
          "a client that left after 100 KiB of a streamed answer: the "
          "device's connection closed %s (%r, %d bytes)"
          % (after, bytes(got[:15]), len(got)))


def step_upload_cancel():
    """A client sends 300 KiB of a 5 MiB chunked upload and leaves: the
    device's connection is closed at once, not by its timer (10 s on
    /patient)."""
    n = len(device_log())
    with socket.create_connection(("127.0.0.1", PORT), 10) as s:
        s.sendall(b"POST /patient/sink HTTP/1.1\r\nHost: d\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n" +
                  gen_chunked(upload_body())[:300 << 10])
        # time for the parts to reach the device before the client goes
        time.sleep(1)
    left = time.time()
    e, after = device_closed(n, "target", "/patient/sink", left)
    check(e and e["partial"] > 0 and e["t"] - left < 1,
          "a client that left after 300 KiB of a streamed upload: the "
          "device's connection closed %s, inside the body (%s)" % (after, e))


def main():
    steps = os.environ.get("STREAM_STEPS", "up,upchunked,uprawchunked,down,"
                           "downchunked,downclose,keepalive,echo,denied,badchunk,"
                           "routebound,devicebound,boundup,cutup,strictb,bounddown,"
                           "early,earlystop,stall,stale,cancel,upcancel").split(",")
    body = upload_body()
    path = os.path.join(WORK, "upload.bin")
    with open(path, "wb") as f:
        f.write(body)
    path2m = os.path.join(WORK, "upload2m.bin")
    with open(path2m, "wb") as f:
        f.write(body[:2 << 20])
    for st in steps:
        start = time.time()
        {"up": lambda: step_upload_length(body, path),
         "upchunked": lambda: step_upload_curl_chunked(body, path),
         "uprawchunked": lambda: step_upload_raw_chunked(body),
         "down": lambda: step_download("cl"),
         "downchunked": lambda: step_download("chunked"),
         "downclose": lambda: step_download("close"),
         "keepalive": step_keepalive,
         "echo": lambda: step_echo(body, path),
         "denied": lambda: step_denied(path),
         "badchunk": step_bad_chunk,
         "routebound": lambda: step_route_bound(path2m, body[:2 << 20]),
         "devicebound": lambda: step_device_bound(path2m, body[:2 << 20]),
         "boundup": lambda: step_policy_bound_up(path2m),
         "cutup": step_block_range_up,
         "strictb": step_strict_b,
         "bounddown": step_policy_bound_down,
         "early": step_early,
         "earlystop": step_early_stop,
         "stall": step_stall,
         "stale": lambda: step_stale(path, body),
         "cancel": step_cancel,
         "upcancel": step_upload_cancel}[st]()
        print("   %s: %.2f s" % (st, time.time() - start), flush=True)
    os.unlink(path)
    os.unlink(path2m)
    print("%d failed" % len(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
