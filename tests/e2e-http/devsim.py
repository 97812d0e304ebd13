"""A web device for the HTTP end-to-end tests: HTTP/1.1 with keep-alive,
on 127.0.0.1, that logs the exact bytes of every request it reads and of
every final response it writes, one JSON line each:
{"req": hex, "rsp": hex}.

    devsim.py PORT LOG

Paths: /dev/hello (GET, HEAD), /dev/echo (the body back), /dev/chunked (a
chunked answer with extensions and a trailer), /dev/big?n=N (N bytes),
/dev/slow (3 s late), /dev/close (read until close), /dev/bye (answered,
and the next request on that connection is read and dropped with the
connection, as when a server's keep-alive timer fires), /dev/stale
(answered, and the connection is closed, unread, as soon as the next
request on it begins to arrive: the race of a keep-alive timer), anything
else 404.
For streaming: any path ending in /sink (any body; the answer is "SHA256
LENGTH" of the body as decoded), any ending in /gen?n=N&mode=cl|chunked|close[&mark=1]
(N bytes of gen_body(N), with Content-Length, in chunks of varying sizes
with extensions and a trailer, or until close; mark adds X-Bounded: 1),
any path ending in /early?n=N[&close=1] (413 with Connection: close
after N bytes of the body, the rest read and dropped, as servers close;
with close=1 the connection is closed at once after the answer).
Exchanges above 1 MiB are
logged as {"req_sha256", "req_len", "rsp_sha256", "rsp_len"}; a request
whose connection ends inside its body as {"partial": body bytes read,
"target": target, "t": the time it ended},
an early answer as {"early": body bytes read before it}, an answer above
1 MiB whose connection ends before it is all sent as {"aborted": target,
"t": the time it ended}.
It sends 100 Continue when asked, as http.server does.
"""
import hashlib
import json
import select
import socket
import socketserver
import sys
import threading
import time

LOG_LOCK = threading.Lock()


class Partial(Exception):
    """The connection ended inside a request's body."""

    def __init__(self, body):
        super().__init__("%d body bytes" % len(body))
        self.body, self.target = body, None


def read_exact(f, n, body):
    data = f.read(n)
    if len(data) < n:
        raise Partial(body + data)
    return data


def read_request(f, sock):
    raw = bytearray()
    line = f.readline(65536)
    if not line:
        return None
    raw += line
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers = {}
    while True:
        hl = f.readline(65536)
        if not hl:
            return None
        raw += hl
        if hl in (b"\r\n", b"\n"):
            break
        k, v = hl.split(b":", 1)
        headers[k.strip().lower()] = v.strip()
    if headers.get(b"expect", b"").lower() == b"100-continue":
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    try:
        return read_body(f, method, target, headers, raw)
    except Partial as p:
        p.target = target
        raise


def read_body(f, method, target, headers, raw):
    """The rest of read_request, past the head: its Partial names no target."""
    body = bytearray()
    if is_early(target):
        # only the first N bytes: the answer comes before the rest
        n = min(int(target_args(target)["n"]), int(headers[b"content-length"]))
        body += read_exact(f, n, body)
        return method, target, headers, bytes(body), bytes(raw + body)
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        while True:
            cl = f.readline(65536)
            raw += cl
            if not cl.endswith(b"\n"):
                raise Partial(body)
            size = int(cl.split(b";")[0].strip(), 16)
            if size == 0:
                while True:
                    t = f.readline(65536)
                    raw += t
                    if t in (b"\r\n", b"\n", b""):
                        break
                break
            data = read_exact(f, size, body)
            raw += data
            body += data
            raw += f.readline(65536)
    elif b"content-length" in headers:
        data = read_exact(f, int(headers[b"content-length"]), body)
        raw += data
        body += data
    return method, target, headers, bytes(body), bytes(raw)


def is_early(target):
    return target.partition("?")[0].endswith("/early")


def target_args(target):
    """The query of a target as a dict: a=1&b=2."""
    return dict(a.split("=", 1) for a in target.partition("?")[2].split("&"))


def gen_body(n):
    """The bytes /dev/gen sends: stream.py computes them too."""
    block = bytes(range(256)) * 4096
    return (block * (n // len(block) + 1))[:n]


def gen_chunked(body):
    out, i, k = bytearray(), 0, 0
    sizes = (1, 4000, 65536, 70000, 123457, 300000)
    while i < len(body):
        piece = body[i:i + sizes[k % len(sizes)]]
        ext = b";n=%d" % k if k % 3 == 0 else b""
        out += b"%x%s\r\n" % (len(piece), ext) + piece + b"\r\n"
        i += len(piece)
        k += 1
    return bytes(out) + b"0;end\r\nX-Sum: %s\r\n\r\n" % (
        hashlib.sha256(body).hexdigest().encode())


def gen(target):
    args = target_args(target)
    body = gen_body(int(args["n"]))
    mode = args.get("mode", "cl")
    mark = b"X-Bounded: 1\r\n" if "mark" in args else b""
    if mode == "chunked":
        return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + mark +
                b"Trailer: X-Sum\r\n\r\n" + gen_chunked(body)), False
    if mode == "close":
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body, True
    return fixed(b"200 OK", body, mark), False


def fixed(status, body, extra=b"", head=False):
    return (b"HTTP/1.1 %s\r\nServer: devsim\r\nX-Odd:  two  spaces \r\n"
            b"Content-Length: %d\r\n%s\r\n" % (status, len(body), extra)
            + (b"" if head else body))


def answer(method, target, body):
    """The response bytes, and whether the connection closes after it."""
    head = method == "HEAD"
    if "://" in target:  # absolute-form: the path after the authority
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    path = target.partition("?")[0]
    if path in ("/dev/bye", "/dev/stale"):
        return fixed(b"200 OK", b"bye\n"), False
    if path == "/dev/hello" and method in ("GET", "HEAD"):
        return fixed(b"200 OK", b"hello, world\n",
                     b"Content-Type: text/plain\r\n", head), False
    if path == "/dev/echo":
        return fixed(b"200 OK", body, b"Content-Type: application/octet-stream\r\n"), False
    if path == "/dev/chunked":
        return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5;ext=1\r\nhello\r\n000A\r\n0123456789\r\n"
                b"0\r\nX-Trailer: yes\r\n\r\n"), False
    if path == "/dev/big":
        n = int(target_args(target)["n"])
        return fixed(b"200 OK", bytes(i % 251 for i in range(n))), False
    if path.endswith("/sink"):
        return fixed(b"200 OK", b"%s %d\n" % (
            hashlib.sha256(body).hexdigest().encode(), len(body))), False
    if path.endswith("/gen"):
        return gen(target)
    if path == "/dev/slow":
        time.sleep(3)
        return fixed(b"200 OK", b"late\n"), False
    if path == "/dev/close":
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end\n", True
    return fixed(b"404 Not Found", b"no such page\n", b"", head), False


def log(entry):
    with LOG_LOCK, open(Server.log, "a") as f:
        f.write(json.dumps(entry) + "\n")


def log_entry(raw, rsp):
    if len(raw) + len(rsp) <= 1 << 20:
        return {"req": raw.hex(), "rsp": rsp.hex()}
    return {"req_sha256": hashlib.sha256(raw).hexdigest(), "req_len": len(raw),
            "rsp_sha256": hashlib.sha256(rsp).hexdigest(), "rsp_len": len(rsp)}


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        drop_next = False
        while True:
            try:
                r = read_request(self.rfile, self.connection)
            except Partial as p:
                log({"partial": len(p.body), "target": p.target,
                     "t": time.time()})
                return
            except (ValueError, ConnectionError):
                return
            if r is None:
                return
            method, target, headers, body, raw = r
            if drop_next:
                return
            if is_early(target):
                self.early(len(body), target_args(target).get("close") == "1")
                return
            drop_next = target == "/dev/bye"
            rsp, close = answer(method, target, body)
            # logged before it is sent: a client that has the answer finds
            # the whole line in the log
            log(log_entry(raw, rsp))
            try:
                self.connection.sendall(rsp)
            except OSError:
                close = True
                if len(rsp) > 1 << 20:
                    log({"aborted": target, "t": time.time()})
            if close or headers.get(b"connection", b"").lower() == b"close":
                return
            if target == "/dev/stale":
                # closed unread at the next request's first byte: a reset
                select.select([self.connection], [], [], 30)
                return

    def early(self, n, close):
        """413 before the body is read; the rest is read and dropped until
        the client closes (or 5 s), so that the close does not reset it;
        with close, the connection is closed at once."""
        log({"early": n})
        c = self.connection
        c.sendall(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n"
                  b"Connection: close\r\n\r\n")
        if close:
            return
        c.shutdown(socket.SHUT_WR)
        c.settimeout(5)
        try:
            while c.recv(1 << 16):
                pass
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    srv = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    Server.log = sys.argv[2]
    open(Server.log, "w").close()
    srv.serve_forever()


if __name__ == "__main__":
    main()
