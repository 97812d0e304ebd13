#!/usr/bin/python3
"""A TCP relay on loopback between an MQTT client and its broker that
records every packet each way, cut by MQTT's own framing, and reads them
back with its own parser (independent of xgw's transform).

    mqttrelay.py relay PORT BROKER-PORT DIR
        listens on 127.0.0.1 PORT; each connection is relayed to
        127.0.0.1 BROKER-PORT and its packets appended to DIR/packets as
        "CONN c|b TYPE HEX TIME" (c: from the client, b: from the
        broker).
        While DIR/hold exists, a new connection waits before it is
        relayed (nothing reaches the broker); one the client closed
        meanwhile is dropped.
    mqttrelay.py connect DIR N
        the N-th CONNECT (from 1; -1 the last) and the CONNACK answering
        it: "level L clean C keepalive K client-id ID session-expiry S
        receive-maximum R packet-max P session-present SP"; a property
        the CONNECT lacks is "-", a CONNACK not seen too.
    mqttrelay.py inflight DIR [FROM]
        the most QoS 1 PUBLISHes the broker had sent and the client not
        yet acknowledged (PUBACK), at any moment, over all connections
        (a resend after a reconnect is the same packet identifier), then
        how many are unacknowledged now: "max M now N"; counted from the
        FROM-th packet recorded (from 1), when all before were settled.
"""
import os, select, socket, sys, threading, time

LOCK = threading.Lock()


def varint(b, i):
    v, shift = 0, 0
    while True:
        if i >= len(b) or shift > 21:
            raise ValueError("bad variable byte integer")
        v |= (b[i] & 0x7F) << shift
        i += 1
        if not b[i - 1] & 0x80:
            return v, i
        shift += 7


def cut(buf):
    """Whole packets at the front of buf, and what is left."""
    out = []
    while len(buf) >= 2:
        try:
            n, i = varint(buf, 1)
        except ValueError:
            if len(buf) < 5:
                break
            raise
        if len(buf) < i + n:
            break
        out.append(bytes(buf[:i + n]))
        buf = buf[i + n:]
    return out, buf


def pipe(conn, tag, src, dst, log):
    buf = b""
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            break
        buf += data
        pkts, buf = cut(buf)
        with LOCK:
            for p in pkts:
                log.write("%d %s %d %s %.3f\n" % (conn, tag, p[0] >> 4,
                                                   p.hex(), time.time()))
            log.flush()
        try:
            dst.sendall(data)
        except OSError:
            break
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(conn, client, port, d, log):
    while os.path.exists(os.path.join(d, "hold")):
        time.sleep(0.05)
    # a client that gave up while held: its CONNECT must not reach the broker
    p = select.poll()
    p.register(client, select.POLLRDHUP)
    if p.poll(0):
        client.close()
        return
    try:
        broker = socket.create_connection(("127.0.0.1", port))
    except OSError:
        client.close()
        return
    for s in (client, broker):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=pipe, args=(conn, "b", broker, client, log),
                     daemon=True).start()
    pipe(conn, "c", client, broker, log)


def relay(port, broker, d):
    log = open(os.path.join(d, "packets"), "a")
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    n = 0
    while True:
        c, _ = ls.accept()
        n += 1
        threading.Thread(target=serve, args=(n, c, broker, d, log),
                         daemon=True).start()


def packets(d):
    for line in open(os.path.join(d, "packets")):
        conn, tag, typ, hexa, _ = line.split()
        yield int(conn), tag, int(typ), bytes.fromhex(hexa)


def body(p):
    _, i = varint(p, 1)
    return p[i:]


def string(b, i):
    n = int.from_bytes(b[i:i + 2], "big")
    return b[i + 2:i + 2 + n], i + 2 + n


# Property identifier: its width in bytes (0: a variable byte integer,
# -1: binary or string, -2: a string pair), MQTT 5.0 2.2.2.2.
WIDTH = {1: 1, 2: 4, 3: -1, 8: -1, 9: -1, 11: 0, 17: 4, 18: -1, 19: 2,
         21: -1, 22: -1, 23: 1, 24: 4, 25: 1, 26: -1, 28: -1, 31: -1,
         33: 2, 34: 2, 35: 2, 36: 1, 37: 1, 38: -2, 39: 4, 40: 1, 41: 1,
         42: 1}


def properties(b, i):
    n, i = varint(b, i)
    end, props = i + n, {}
    while i < end:
        pid = b[i]
        w = WIDTH[pid]
        i += 1
        if w > 0:
            props[pid] = int.from_bytes(b[i:i + w], "big")
            i += w
        elif w == 0:
            props[pid], i = varint(b, i)
        else:
            for _ in range(-w):
                props[pid], i = string(b, i)
    return props, end


def connect(d, n):
    pkts = list(packets(d))
    conns = [(c, p) for c, tag, t, p in pkts if tag == "c" and t == 1]
    conn, p = conns[n - 1 if n > 0 else n]
    b = body(p)
    _, i = string(b, 0)		# "MQTT"
    level, flags = b[i], b[i + 1]
    keepalive = int.from_bytes(b[i + 2:i + 4], "big")
    i += 4
    props = {}
    if level == 5:
        props, i = properties(b, i)
    cid, i = string(b, i)
    acks = [body(p) for c, tag, t, p in pkts if c == conn and tag == "b" and t == 2]
    prop = lambda k: props.get(k, "-")
    print("level %d clean %d keepalive %d client-id %s session-expiry %s "
          "receive-maximum %s packet-max %s session-present %s" % (
              level, (flags >> 1) & 1, keepalive, cid.decode(), prop(17),
              prop(33), prop(39), acks[0][0] & 1 if acks else "-"))


def inflight(d, start):
    out, most = set(), 0
    for conn, tag, t, p in list(packets(d))[start - 1:]:
        if tag == "b" and t == 3 and (p[0] >> 1) & 3 == 1:
            b = body(p)
            _, i = string(b, 0)
            out.add(int.from_bytes(b[i:i + 2], "big"))
            most = max(most, len(out))
        elif tag == "c" and t == 4:
            out.discard(int.from_bytes(body(p)[:2], "big"))
    print("max %d now %d" % (most, len(out)))


if sys.argv[1] == "relay":
    relay(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
elif sys.argv[1] == "connect":
    connect(sys.argv[2], int(sys.argv[3]))
elif sys.argv[1] == "inflight":
    inflight(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
