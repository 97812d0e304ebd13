"""The clients of the HTTP end-to-end test, in front of gateway A: curl and
raw sockets.  Every exchange is checked against the device's log: the
request bytes the device read must be those the client sent, and the
response bytes the client read those the device wrote.

    clients.py PORT DEVLOG ALOG WORKDIR DEVPORT DEV3LOG DEV4LOG

DEVLOG is the device of the host-less routes; DEV3LOG and DEV4LOG those
reached by host (alpha.example, gamma.example; beta.example, [::1]).

CLIENT_STEPS (comma-separated) picks the steps.  The benchmark is
tests/bench/http_path.sh.
"""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

PORT, DEVLOG, ALOG, WORK = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
DEVPORT = int(sys.argv[5])
# the bench (tests/bench) gives only the first five
DEV3LOG, DEV4LOG = (sys.argv[6:8] + [None, None])[:2]
BASE = "http://127.0.0.1:%d" % PORT
failures = []
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


def device_log(path=DEVLOG):
    with open(path) as f:
        return [(bytes.fromhex(e["req"]), bytes.fromhex(e["rsp"]))
                for e in map(json.loads, f)]


def wait_log(n, secs=5, path=DEVLOG):
    """The device log once it has at least n entries (it is written after the answer)."""
    end = time.time() + secs
    while time.time() < end:
        log = device_log(path)
        if len(log) >= n:
            return log
        time.sleep(0.02)
    return device_log(path)


def sent_by_curl(trace):
    """The bytes curl wrote, from its --trace hex dump."""
    out, want = bytearray(), 0
    for line in open(trace, encoding="latin-1"):
        m = re.match(r"=> Send (header|data), (\d+) bytes", line)
        if m:
            want = int(m.group(2))
            continue
        m = re.match(r"[0-9a-f]{4}: ((?:[0-9a-f]{2} ?)+)", line)
        if m and want > 0:
            pairs = m.group(1).split()[:min(16, want)]
            out += bytes(int(p, 16) for p in pairs)
            want -= len(pairs)
        elif not m:
            want = 0
    return bytes(out)


def curl(name, *args):
    """Runs curl; returns (status, headers+body as received, bytes sent, stderr)."""
    trace, hdr, body = (os.path.join(WORK, name + s) for s in (".trace", ".hdr", ".body"))
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "--raw", "--trace", trace,
                        "-D", hdr, "-o", body, "-w", "%{http_code}", *args],
                       capture_output=True)
    h = open(hdr, "rb").read() if os.path.exists(hdr) else b""
    b = open(body, "rb").read() if os.path.exists(body) else b""
    # -I writes the head to the output too
    got = h if b == h else h + b
    # our own 100 Continue (the device's is not carried)
    if got.startswith(CONTINUE):
        got = got[len(CONTINUE):]
        check(b"Expect: 100-continue" in sent_by_curl(trace),
              "%s: 100 Continue only when asked" % name)
    return p.stdout.decode(), got, sent_by_curl(trace), p.stderr.decode()


def exchange_checked(name, before, status, got, sent, want_status="200"):
    log = wait_log(before + 1)
    check(status == want_status, "%s: status %s (want %s)" % (name, status, want_status))
    check(len(log) == before + 1, "%s: the device saw exactly one request" % name)
    if len(log) == before + 1:
        check(log[-1][0] == sent, "%s: the device read the bytes curl sent (%d bytes)"
              % (name, len(sent)))
        check(log[-1][1] == got, "%s: curl read the bytes the device wrote (%d bytes)"
              % (name, len(got)))


def read_message(f, head=False):
    """One whole HTTP response from a file object, as raw bytes."""
    raw = bytearray(f.readline(65536))
    if not raw:
        return b""
    hdrs = {}
    while True:
        line = f.readline(65536)
        raw += line
        if line in (b"\r\n", b"\n", b""):
            break
        k, v = line.split(b":", 1)
        hdrs[k.strip().lower()] = v.strip()
    status = int(raw.split(b" ")[1])
    if head or status in (100, 204, 304):
        return bytes(raw)
    if b"chunked" in hdrs.get(b"transfer-encoding", b""):
        while True:
            line = f.readline(65536)
            raw += line
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while True:
                    t = f.readline(65536)
                    raw += t
                    if t in (b"\r\n", b"\n", b""):
                        return bytes(raw)
            raw += f.read(size + 2)
    if b"content-length" in hdrs:
        return bytes(raw + f.read(int(hdrs[b"content-length"])))
    return bytes(raw + f.read())


def connect(port=PORT):
    s = socket.create_connection(("127.0.0.1", port), 3)
    s.settimeout(10)
    return s, s.makefile("rb")


def closed(s):
    """The gateway closed the connection (end of stream, or a reset)."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def step_curl():
    n = len(device_log())
    exchange_checked("GET", n, *curl("get", BASE + "/dev/hello")[:3])
    n = len(device_log())
    exchange_checked("HEAD", n, *curl("head", "-I", BASE + "/dev/hello")[:3])
    payload = os.urandom(5000)
    open(os.path.join(WORK, "post.bin"), "wb").write(payload)
    n = len(device_log())
    st, got, sent, _ = curl("post", "--data-binary", "@" + os.path.join(WORK, "post.bin"),
                            BASE + "/dev/echo")
    exchange_checked("POST 5000 bytes", n, st, got, sent)
    check(got.endswith(payload), "POST: the body came back")
    n = len(device_log())
    st, got, sent, _ = curl("chunked-up", "-H", "Transfer-Encoding: chunked",
                            "--data-binary", "@" + os.path.join(WORK, "post.bin"),
                            BASE + "/dev/echo")
    exchange_checked("chunked upload", n, st, got, sent)
    check(b"Transfer-Encoding: chunked" in sent and got.endswith(payload),
          "chunked upload: sent chunked, the body came back")
    n = len(device_log())
    st, got, sent, _ = curl("chunked-down", BASE + "/dev/chunked")
    exchange_checked("chunked download", n, st, got, sent)
    check(got.endswith(b"0\r\nX-Trailer: yes\r\n\r\n"), "chunked download: chunks and trailer kept")
    big = os.urandom(100 * 1024)
    open(os.path.join(WORK, "big.bin"), "wb").write(big)
    n = len(device_log())
    st, got, sent, _ = curl("big", "--data-binary", "@" + os.path.join(WORK, "big.bin"),
                            BASE + "/dev/echo")
    exchange_checked("POST 100 KiB", n, st, got, sent)
    n = len(device_log())
    exchange_checked("GET 140000 bytes", n, *curl("big-down", BASE + "/dev/big?n=140000")[:3])
    n = len(device_log())
    exchange_checked("GET 200000 bytes, streamed", n,
                     *curl("streamed-down", BASE + "/dev/big?n=200000")[:3])
    n = len(device_log())
    st, got, sent, _ = curl("close", BASE + "/dev/close")
    exchange_checked("answer read until close", n, st, got, sent)


def step_keepalive():
    n = len(device_log())
    p = subprocess.run(["curl", "-sS", "-v", "--max-time", "10", "-o", "/dev/null",
                        "-o", "/dev/null", "-o", "/dev/null", BASE + "/dev/hello",
                        BASE + "/dev/chunked", BASE + "/dev/hello"],
                       capture_output=True, text=True)
    check(p.returncode == 0, "keep-alive: curl with three URLs")
    check(p.stderr.count("Re-using existing connection") == 2,
          "keep-alive: curl sent three requests on one connection")
    check(len(wait_log(n + 3)) == n + 3, "keep-alive: the device saw three requests")
    # pipelined: three requests in one write, answers in order, byte for byte
    n = len(device_log())
    s, f = connect()
    reqs = [b"GET /dev/chunked HTTP/1.1\r\nHost: a\r\n\r\n",
            b"POST /dev/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
            b"GET /dev/hello HTTP/1.1\r\nHost: a\r\n\r\n"]
    s.sendall(b"".join(reqs))
    got = [read_message(f) for _ in reqs]
    log = wait_log(n + 3)[n:]
    check([r for r, _ in log] == reqs, "pipelined: the device read the three requests as sent")
    check(got == [a for _, a in log], "pipelined: answers in order, byte for byte")
    s.close()
    # Expect: 100-continue: the gateway asks for the body itself, since it
    # carries the request whole; the device's own 100 is not carried
    n = len(device_log())
    s, f = connect()
    head = b"POST /dev/echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    s.sendall(head)
    check(read_message(f) == CONTINUE, "Expect: 100-continue answered by the gateway")
    s.sendall(b"hello")
    rsp = read_message(f)
    log = wait_log(n + 1)[n:]
    check(len(log) == 1 and log[0][0] == head + b"hello" and rsp == log[0][1],
          "Expect: 100-continue: request and answer byte for byte, one 100 only")
    s.close()


def step_policy():
    n = len(device_log())
    st, got, _, _ = curl("delete", "-X", "DELETE", BASE + "/dev/hello")
    check(st == "403", "DELETE: 403 (got %s)" % st)
    time.sleep(0.5)
    check(len(device_log()) == n, "DELETE: never reached the device")


def step_failures():
    s, f = connect()
    s.sendall(b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n")
    rsp = read_message(f)
    check(rsp.startswith(b"HTTP/1.1 502 "), "no route: 502 (%r)" % rsp[:40])
    s.sendall(b"GET /dev/hello HTTP/1.1\r\nHost: a\r\n\r\n")
    rsp = read_message(f)
    check(rsp.startswith(b"HTTP/1.1 200 "), "no route: the connection stays and serves the next")
    t0 = time.time()
    s.sendall(b"GET /dead/x HTTP/1.1\r\nHost: a\r\n\r\n")
    rsp = read_message(f)
    check(rsp.startswith(b"HTTP/1.1 502 ") and time.time() - t0 < 2,
          "dead device: 502 at once (%r)" % rsp[:40])
    t0 = time.time()
    s.sendall(b"GET /dev/slow HTTP/1.1\r\nHost: a\r\n\r\n")
    rsp = read_message(f)
    dt = time.time() - t0
    check(rsp.startswith(b"HTTP/1.1 504 ") and 0.9 < dt < 2.5,
          "slow device: 504 after its 1 s timeout (%.2f s, %r)" % (dt, rsp[:40]))
    s.sendall(b"HEAD /unknown HTTP/1.1\r\nHost: a\r\n\r\n")
    rsp = read_message(f, head=True)
    check(rsp.startswith(b"HTTP/1.1 502 "), "no route for HEAD: 502 without a body")
    s.sendall(b"GET /dev/hello HTTP/1.1\r\nHost: a\r\n\r\n")
    rsp = read_message(f)
    check(rsp.startswith(b"HTTP/1.1 200 "), "after 502 and 504 the connection still serves")
    s.close()
    # the slow device logs its answer when it is late; later steps count
    # the device's requests, so it must be in before they start
    end = time.time() + 5
    while time.time() < end and not any(r.startswith(b"GET /dev/slow ") for r, _ in device_log()):
        time.sleep(0.05)


def step_retry():
    """A kept-alive connection the device drops as the next request
    arrives: an idempotent request is sent again on a new connection, a
    POST is not (502)."""
    s, f = connect()
    for method, want in ((b"GET", b"200"), (b"POST", b"502")):
        s.sendall(b"GET /dev/bye HTTP/1.1\r\nHost: a\r\n\r\n")
        check(read_message(f).startswith(b"HTTP/1.1 200 "), "/dev/bye answered")
        body = b"" if method == b"GET" else b"Content-Length: 0\r\n"
        s.sendall(method + b" /dev/hello HTTP/1.1\r\nHost: a\r\n" + body + b"\r\n")
        rsp = read_message(f)
        check(rsp.startswith(b"HTTP/1.1 " + want + b" "),
              "%s on a connection the device dropped: %s (%r)"
              % (method.decode(), want.decode(), rsp[:40]))
    s.close()


def refused(name, data, status, ok_to_reset=False):
    s, f = connect()
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        if not ok_to_reset:
            raise
    rsp = read_message(f)
    check(rsp.startswith(b"HTTP/1.1 %d " % status), "%s: %d (%r)" % (name, status, rsp[:50]))
    check(closed(s), "%s: connection closed after the answer" % name)
    s.close()


def step_bad_input():
    # a client that stays connected meanwhile must be served afterwards
    keep, keepf = connect()
    n = len(device_log())
    refused("malformed header line", b"GET /dev/hello HTTP/1.1\r\nHost a\r\n\r\n", 400)
    refused("lower-case version", b"GET /dev/hello http/1.1\r\nHost: a\r\n\r\n", 400)
    refused("obs-fold", b"GET /dev/hello HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", 400)
    refused("CL and TE (smuggling)", b"POST /dev/echo HTTP/1.1\r\nHost: a\r\n"
            b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
    refused("request line of 10000 bytes", b"GET /dev/" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n", 414)
    refused("header section of 20 KiB", b"GET /dev/hello HTTP/1.1\r\nHost: a\r\n"
            + b"X-Pad: " + b"p" * 20000 + b"\r\n\r\n", 431)
    refused("200 header fields", b"GET /dev/hello HTTP/1.1\r\n"
            + b"".join(b"X-%d: v\r\n" % i for i in range(200)) + b"\r\n", 431)
    refused("Content-Length above the body bound (1 GiB)", b"POST /dev/echo HTTP/1.1\r\n"
            b"Host: a\r\nContent-Length: 2000000000\r\n\r\n", 413)
    time.sleep(0.3)
    check(len(device_log()) == n, "bad input: nothing reached the device")
    log = open(ALOG, errors="replace").read()
    check(len(re.findall(r"request refused with 400", log)) >= 4,
          "bad input: each refusal is logged by gateway A's adapter")
    keep.sendall(b"GET /dev/hello HTTP/1.1\r\nHost: a\r\n\r\n")
    check(read_message(keepf).startswith(b"HTTP/1.1 200 "),
          "bad input: a client connected all along is still served")
    # many clients at once
    results = []

    def one():
        st, _, _, _ = curl("par%d" % threading.get_ident(), BASE + "/dev/hello")
        results.append(st)
    ts = [threading.Thread(target=one) for _ in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(results == ["200"] * 20, "20 concurrent clients: all 200")


def step_hosts():
    """Routes by host: the same path reaches the device of the request's
    host, compared without case and port; an absolute-form target's
    authority wins over Host; an unknown host takes the host-less route,
    or gets 502 where there is none; no Host or two give 400."""
    logs = {"d1": DEVLOG, "d3": DEV3LOG, "d4": DEV4LOG}
    s, f = connect()

    def sent(name, req, want_status, want_dev):
        before = {d: len(device_log(p)) for d, p in logs.items()}
        s.sendall(req)
        rsp = read_message(f)
        check(rsp.startswith(b"HTTP/1.1 %d " % want_status),
              "%s: %d (%r)" % (name, want_status, rsp[:40]))
        if want_dev is not None:
            log = wait_log(before[want_dev] + 1, path=logs[want_dev])
            check(len(log) == before[want_dev] + 1 and log[-1] == (req, rsp),
                  "%s: reached %s, byte for byte" % (name, want_dev))
        else:
            time.sleep(0.3)
        others = [d for d in logs if d != want_dev
                  and len(device_log(logs[d])) != before[d]]
        check(not others, "%s: no other device saw it %s" % (name, others))

    def get(target, *fields):
        return (b"GET %s HTTP/1.1\r\n" % target
                + b"".join(b"%s\r\n" % h for h in fields) + b"\r\n")

    sent("Host alpha.example", get(b"/dev/hello", b"Host: alpha.example"), 200, "d3")
    sent("Host BETA.Example:8080", get(b"/dev/hello", b"Host: BETA.Example:8080"), 200, "d4")
    sent("Host [0:0::1]:80", get(b"/dev/hello", b"Host: [0:0::1]:80"), 200, "d4")
    sent("unknown host, host-less route", get(b"/dev/hello", b"Host: other.example"), 200, "d1")
    sent("a host's route beats a longer host-less one",
         get(b"/dev/hello", b"Host: gamma.example"), 200, "d3")
    sent("host route, its host", get(b"/only/x", b"Host: alpha.example"), 404, "d3")
    sent("host route, unknown host: no route", get(b"/only/x", b"Host: other.example"), 502, None)
    sent("absolute-form: its authority wins over Host",
         get(b"http://Alpha.Example:81/dev/hello", b"Host: beta.example"), 200, "d3")
    sent("absolute-form, unknown authority: host-less route",
         get(b"http://other.example/dev/hello", b"Host: alpha.example"), 200, "d1")
    sent("no Host", get(b"/dev/hello"), 400, None)
    sent("two Host fields", get(b"/dev/hello", b"Host: alpha.example", b"host: alpha.example"),
         400, None)
    sent("Host not a host", get(b"/dev/hello", b"Host: a b"), 400, None)
    sent("Host with a bad port", get(b"/dev/hello", b"Host: alpha.example:8o"), 400, None)
    sent("absolute-form with userinfo", get(b"http://u@alpha.example/dev/hello",
                                            b"Host: alpha.example"), 400, None)
    sent("absolute-form without Host", get(b"http://alpha.example/dev/hello"), 400, None)
    sent("after 400 the connection serves", get(b"/dev/hello", b"Host: alpha.example"), 200, "d3")
    s.close()
    s, f = connect()
    req = b"GET /dev/hello HTTP/1.0\r\n\r\n"
    before = len(device_log())
    s.sendall(req)
    rsp = read_message(f)
    log = wait_log(before + 1)
    check(rsp.startswith(b"HTTP/1.1 200 ") and len(log) == before + 1 and log[-1][0] == req,
          "HTTP/1.0 without Host: the host-less route (%r)" % rsp[:40])
    s.close()
    log = open(ALOG, errors="replace").read()
    check("no Host field; answered 400" in log and "more than one Host field" in log,
          "Host refusals are logged by gateway A's adapter")


for step in os.environ.get("CLIENT_STEPS", "curl,keepalive,policy,failures,retry,bad_input,hosts").split(","):
    globals()["step_" + step]()
sys.exit(1 if failures else 0)
