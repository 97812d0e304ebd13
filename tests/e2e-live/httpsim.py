"""A web device for xgw-replay --live: it answers the N-th request it reads
(counted over all connections) with the N-th response of a captured
server stream, changed as the test asks, so that the test knows exactly
which answers match the capture and which differ, and in what.

    httpsim.py PORT STREAM [N:CHANGE ...]

STREAM is the server's side of one captured TCP stream, as
`tshark -q -z follow,tcp,raw,K` prints it (the tab-indented hex lines);
its responses must be framed by Content-Length.  Every answer gets a
fresh Date and Server (fields the replay does not compare).  CHANGE:
  type        Content-Type becomes text/plain
  body        the body's first byte is flipped
  404         the status line becomes HTTP/1.1 404 Not Found
  close       the connection is closed after this answer
  drop        the connection is closed instead of answering
Each request read is logged on standard output: "request N".
"""
import email.utils
import socketserver
import sys
import threading


def responses(path):
    data = bytearray()
    for line in open(path):
        if line.startswith("\t"):
            data += bytes.fromhex(line.strip())
    out = []
    while data:
        head, _, rest = bytes(data).partition(b"\r\n\r\n")
        length = 0
        for field in head.split(b"\r\n")[1:]:
            name, _, value = field.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        out.append((head.split(b"\r\n"), rest[:length]))
        data = bytearray(rest[length:])
    return out


def changed(lines, body, change):
    status, fields = lines[0], []
    for f in lines[1:]:
        name = f.partition(b":")[0].strip().lower()
        if name == b"date":
            f = b"Date: " + email.utils.formatdate(usegmt=True).encode()
        elif name == b"server":
            f = b"Server: httpsim"
        elif name == b"content-type" and "type" in change:
            f = b"Content-Type: text/plain"
        fields.append(f)
    if "404" in change:
        status = b"HTTP/1.1 404 Not Found"
    if "body" in change:
        body = bytes([body[0] ^ 0xff]) + body[1:]
    return b"\r\n".join([status] + fields) + b"\r\n\r\n" + body


ANSWERS = responses(sys.argv[2])
CHANGES = {}
for arg in sys.argv[3:]:
    n, _, what = arg.partition(":")
    CHANGES.setdefault(int(n), set()).add(what)
COUNT = [0]
LOCK = threading.Lock()


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            while line not in (b"\r\n", b"\n", b""):
                line = self.rfile.readline(65536)
            with LOCK:
                COUNT[0] += 1
                n = COUNT[0]
            print("request", n, flush=True)
            change = CHANGES.get(n, set())
            if n > len(ANSWERS) or "drop" in change:
                return
            self.wfile.write(changed(*ANSWERS[n - 1], change))
            self.wfile.flush()
            if "close" in change:
                return


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
